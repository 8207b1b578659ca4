export type * from './metadata-store.js';
export type * from './artifact-store.js';
