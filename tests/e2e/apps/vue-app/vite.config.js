import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// Every dependency is named up front, so Vite never discovers one at run time and reloads the
// page to re-optimize (that reload would look like an HMR failure to the tests).
export default defineConfig({
  plugins: [vue()],
  optimizeDeps: {
    include: ['vue'],
  },
});
