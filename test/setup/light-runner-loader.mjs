/**
 * The first set-up of each worker of `npx projen test:unit` (a jest-light-runner worker thread): tsx's loaders, so
 * that the worker imports TypeScript, for the worker threads of Node.js 20 do not inherit the hooks of `--import`.
 * tsx keeps no cache: it would stay in the run's temporary folder.
 */
process.env.TSX_DISABLE_CACHE = '1';
const { register: registerCommonJs } = await import('tsx/cjs/api');
const { register: registerEsm } = await import('tsx/esm/api');
registerCommonJs();
registerEsm();
