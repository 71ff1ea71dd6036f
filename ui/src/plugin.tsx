// Entry of the plugin bundle (UMD, global AirflowPlugin): React comes from Airflow's page.
import MlpipeTracking from "./App";

export default MlpipeTracking;
