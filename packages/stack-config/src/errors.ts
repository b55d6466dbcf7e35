import type { z } from 'zod';
import { issueMessage } from './schema.ts';

/** At most this many problems are spelled out in the message (all are in `problems`). */
const MAX_LISTED = 200;

/**
 * Thrown for an unreadable or invalid stack file; lists every problem, each as `path: message`.
 * Problems name keys and positions, never a value (a header value may hold a token).
 */
export class StackFileError extends Error {
  readonly source: string;
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    const listed = problems.slice(0, MAX_LISTED).map((p) => `  - ${p}`);
    if (problems.length > MAX_LISTED) listed.push(`  - … and ${problems.length - MAX_LISTED} more`);
    super(`invalid stack file ${source}:\n${listed.join('\n')}`);
    this.name = 'StackFileError';
    this.source = source;
    this.problems = problems;
  }
}

export type Path = readonly PropertyKey[];

export const formatPath = (path: Path): string => (path.length ? path.map(String).join('.') : '(root)');

export const problem = (path: Path, message: string): string => `${formatPath(path)}: ${message}`;

export const issueProblems = (issues: readonly z.core.$ZodIssue[], prefix: Path = []): string[] =>
  issues.map((i) => problem([...prefix, ...i.path], issueMessage(i)));
