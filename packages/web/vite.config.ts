import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// `npm run dev -w @modelyard/web` proxies the API to a `yard server` on the default port.
export default defineConfig({
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: { '/api': 'http://127.0.0.1:5000' },
  },
});
