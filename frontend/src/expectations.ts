/**
 * The Execute dialog's expectations (pure): rules typed one per line (`accuracy >= 0.8`,
 * `rows(output/*.csv) > 0`, `exists accuracy`), sent as `expect`. The server parses them: a malformed
 * one is its 422, shown at the field (components/serverErrors.ts).
 */
import { outputPatterns } from './trends';

/** The rules typed, one per non-blank line, trimmed. */
export function expectRules(text: string): string[] {
  return outputPatterns(text);
}

/**
 * The `expect` of a request: for a new run or schedule only when some are given; for an edit only
 * when they changed (an empty list clears them).
 */
export function expectRequest(text: string, before?: string[] | null): { expect?: string[] } {
  const rules = expectRules(text);
  if (before === undefined) {
    return rules.length > 0 ? { expect: rules } : {};
  }
  const old = before ?? [];
  const same = rules.length === old.length && rules.every((rule, index) => rule === old[index]);
  return same ? {} : { expect: rules };
}
