// One free-port helper for the whole repository (the servers under test and the tests share it).
export { freePort } from '../../../test/helpers/ports.ts';
