// The node flags the compiled apps run with: `npm run start:prod` (scripts/start.ts), the Docker
// image (docker/entrypoint.sh, which repeats them; test/deploy/dockerfile.test.ts checks they agree)
// and the benchmark.
//   --conditions=stack-compiled  the workspace packages resolve to their compiled dist files (their
//                                package.json exports), as the apps themselves run compiled.
//   --max-old-space-size=256     V8 sizes the old generation for the machine's memory, not for the
//   --max-semi-space-size=4      service: under load the MCP server's old space grew to ~100 MB and
//                                its new space to 32 MB around a live heap of ~35 MB, which took it
//                                past 200 MB RSS (bench: 216-239 MB peak). A 256 MB limit makes V8
//                                grow the old space by smaller steps (its growing factor scales with
//                                the limit); 4 MB semi-spaces keep the new space at 8 MB. Peak RSS
//                                in the same runs: 134 MB. 256 MB is still ~7x the live heap.
export const COMPILED_NODE_FLAGS = ['--conditions=stack-compiled', '--max-old-space-size=256', '--max-semi-space-size=4'];
