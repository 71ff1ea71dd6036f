// The one component Airflow mounts for every page of the plugin: it dispatches on the props Airflow
// passes (taskId -> the step page, runId -> the run page, none -> the "ML experiments" page).
import { NavPage } from "./NavPage";
import { RunPage, StepPage } from "./RunPage";
import { CSS } from "./styles";

export interface PluginProps {
  dagId?: string;
  runId?: string;
  taskId?: string;
  mapIndex?: string;
}

export default function MlpipeTracking(props: PluginProps) {
  const { dagId, runId, taskId } = props;
  let page;
  if (dagId && runId && taskId) page = <StepPage dagId={dagId} runId={runId} taskId={taskId} />;
  else if (dagId && runId) page = <RunPage dagId={dagId} runId={runId} />;
  else page = <NavPage />;
  return (
    <div className="mp-root" data-testid="mlpipe-root">
      <style>{CSS}</style>
      {page}
    </div>
  );
}
