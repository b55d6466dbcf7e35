import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStackFileReloader, loadStackFile, MAX_STACK_FILE_BYTES, StackFileError, type StackConfig } from '@stack/stack-config';

const file = (tool: string) => `
scopes:
  "a:read": { description: "Read", roles: [admin, developer, viewer] }
servers:
  - name: s
    path: /mcp
    upstream: { builtin: database }
    tools:
      ${tool}: { roles: [viewer], scopes: ["a:read"] }
`;

describe('stack file reload', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stack-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('[GW-STACK-RELOAD] a valid file replaces the config and calls onChange; an invalid one is refused and the old one kept', () => {
    const path = join(dir, 'stack.yaml');
    writeFileSync(path, file('first'));
    const changes: StackConfig[] = [];
    const errors: unknown[] = [];
    const reloader = createStackFileReloader(path, { env: 'test' }, { onChange: (c) => changes.push(c), onError: (e) => errors.push(e) });
    const first = reloader.current();
    expect(Object.keys(first.servers[0]!.tools.rules)).toEqual(['first']);

    writeFileSync(path, file('second'));
    expect(reloader.reload()).toBe(true);
    expect(changes).toHaveLength(1);
    expect(reloader.current()).toBe(changes[0]);
    expect(Object.keys(reloader.current().servers[0]!.tools.rules)).toEqual(['second']);

    const second = reloader.current();
    writeFileSync(path, file('third').replace('[viewer]', '[nobody]'));
    expect(reloader.reload()).toBe(false);
    expect(reloader.current()).toBe(second);
    expect(errors).toHaveLength(1);
    expect((errors[0] as StackFileError).problems).toEqual(["servers.0.tools.third.roles.0: role 'nobody' is not in roles"]);

    rmSync(path);
    expect(reloader.reload()).toBe(false);
    expect((errors[1] as StackFileError).problems).toEqual(['(root): cannot read the file (ENOENT)']);
    expect(reloader.current()).toBe(second);
    expect(changes).toHaveLength(1);
  });

  it('[GW-STACK-RELOAD] onChange can refuse a valid file by throwing; the first load throws on an invalid file', () => {
    const path = join(dir, 'stack.json');
    writeFileSync(path, JSON.stringify({ scopes: { 'a:read': { description: 'Read', roles: ['viewer'] } }, servers: [{ name: 's', path: '/mcp', upstream: { builtin: 'database' } }] }));
    const errors: unknown[] = [];
    const reloader = createStackFileReloader(path, { env: 'test' }, {
      onChange: () => {
        throw new Error('cannot apply');
      },
      onError: (e) => errors.push(e),
    });
    const before = reloader.current();
    expect(reloader.reload()).toBe(false);
    expect(reloader.current()).toBe(before);
    expect((errors[0] as Error).message).toBe('cannot apply');

    writeFileSync(path, '{"servers": []}');
    expect(() => createStackFileReloader(path, { env: 'test' }, { onChange: () => {}, onError: () => {} })).toThrow(StackFileError);
  });

  it('[GW-STACK-VALIDATION] loadStackFile refuses a file over 1 MiB without parsing it', () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, `${file('t')}# ${'x'.repeat(MAX_STACK_FILE_BYTES)}\n`);
    expect(() => loadStackFile(path, { env: 'test' })).toThrow(/big\.yaml:\n {2}- \(root\): is larger than the limit of 1048576 bytes/);
    writeFileSync(path, file('t'));
    expect(loadStackFile(path, { env: 'test' }).source).toBe(path);
  });
});
