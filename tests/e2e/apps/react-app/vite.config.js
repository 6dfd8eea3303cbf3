import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Every dependency is named up front, so Vite never discovers one at run time and reloads the
// page to re-optimize (that reload would look like an HMR failure to the tests).
export default defineConfig({
  plugins: [react()],
  optimizeDeps: {
    include: ['react', 'react/jsx-dev-runtime', 'react-dom/client'],
  },
});
