import { endRunTempFolder } from './temp-folder';

export default function globalTeardown(): void {
  endRunTempFolder();
}
