// Two builds into the Python package's static folder (airflow_mlpipe/plugin/static, served by the
// plugin at <base>/mlpipe/static):
// - default: the plugin bundle, a UMD file whose global AirflowPlugin is the page component, with
//   React taken from Airflow's page (the globals Airflow sets for plugins);
// - standalone (--mode standalone): the same pages with React bundled, a plain page for the
//   iframe fallback ([mlpipe] tracking_ui = iframe), in static/standalone.
// JSX goes through esbuild's automatic runtime (no React plugin: nothing else to install).
import { resolve } from "node:path";
import { defineConfig } from "vite";

const out = resolve(__dirname, "../airflow_mlpipe/plugin/static");
const common = {
  esbuild: { jsx: "automatic" as const, legalComments: "none" as const },
  define: { "process.env.NODE_ENV": '"production"' },
};

export default defineConfig(({ mode }) =>
  mode === "standalone"
    ? {
        ...common,
        root: resolve(__dirname, "standalone"),
        base: "./",
        publicDir: false,
        build: { outDir: resolve(out, "standalone"), emptyOutDir: true, sourcemap: false },
      }
    : {
        ...common,
        publicDir: resolve(__dirname, "public"),
        build: {
          outDir: out,
          emptyOutDir: true,
          sourcemap: false,
          lib: {
            entry: resolve(__dirname, "src/plugin.tsx"),
            name: "AirflowPlugin",
            formats: ["umd"],
            // .js, not Vite's default .umd.cjs: Python's mimetypes knows no .cjs, and a module
            // served as text/plain is refused by the browser.
            fileName: () => "mlpipe-tracking.umd.js",
          },
          rollupOptions: {
            external: ["react", "react-dom", "react/jsx-runtime"],
            output: {
              exports: "default",
              globals: { react: "React", "react-dom": "ReactDOM", "react/jsx-runtime": "ReactJSXRuntime" },
            },
          },
        },
      },
);
