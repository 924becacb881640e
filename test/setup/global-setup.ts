import { startRunTempFolder } from './temp-folder';

/** The global setup of a jest project that needs nothing but the run's own temporary folder. */
export default function globalSetup(): void {
  startRunTempFolder();
}
