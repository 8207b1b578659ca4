export * from './errors.js';
export * from './entities.js';
export * from './search-types.js';
export * from './search-filter.js';
export * from './page-token.js';
export * from './validation.js';
export * from './run-name.js';
export * from './tensor.js';
