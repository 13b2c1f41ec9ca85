import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The gateway serves `dist/` and the API on one origin; in dev, Vite proxies the API to it. */
const gateway = 'http://127.0.0.1:3000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: false },
      '/healthz': { target: gateway, changeOrigin: false },
    },
  },
});
