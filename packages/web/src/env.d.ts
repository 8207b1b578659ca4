// Lets plain `tsc` and the linter see `.vue` imports; vue-tsc reads the components themselves.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent;
  export default component;
}
