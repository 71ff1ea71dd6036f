// Entry of the standalone build (the iframe fallback, [mlpipe] tracking_ui = iframe): React is
// bundled, the page's props come from its query string, and Airflow's base is three levels up
// (this page is served at <base>/mlpipe/tracking/app/).
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { setAirflowBase, setNavEntry } from "../src/api";
import MlpipeTracking from "../src/App";

const q = new URLSearchParams(window.location.search);
const opt = (k: string) => q.get(k) || undefined;
setAirflowBase(new URL("../../../", window.location.href).href);
setNavEntry(window.location.pathname); // links to the nav page with a view go to this page's path there
const view = q.get("view");
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MlpipeTracking
      dagId={view === "run" || view === "step" ? opt("dag_id") : undefined}
      runId={view === "run" || view === "step" ? opt("run_id") : undefined}
      taskId={view === "step" ? opt("task_id") : undefined}
      mapIndex={opt("map_index")}
    />
  </StrictMode>,
);
