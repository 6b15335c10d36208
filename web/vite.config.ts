import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Root is web/ (the build script runs `vite build web`); output goes to web/dist, which the server serves.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: { '/api': process.env.TRIPLINE_URL ?? 'http://127.0.0.1:8240' },
  },
});
