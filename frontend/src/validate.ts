/**
 * The dialog's suggested schedule name. Whether a name (or any other field) is valid is the server's
 * to say: `POST /api/schedules/preview` (`src/preview.ts`).
 */

/** A notebook's file name as a schedule name: lower case, other characters as `_`, at most 100 long
 * (`paths::name_from_stem`). */
export function nameFromPath(path: string): string {
  const file = path.split('/').pop() ?? '';
  const dot = file.lastIndexOf('.');
  const stem = dot > 0 ? file.slice(0, dot) : file;
  const name = Array.from(stem)
    .map(c => c.toLowerCase())
    .map(c => (/^[a-z0-9_]$/.test(c) ? c : '_'))
    .slice(0, 100)
    .join('');
  return name || 'notebook';
}

/** `base`, or `base_2`, `base_3`… : the first that no existing schedule has. */
export function uniqueName(base: string, taken: Iterable<string>): string {
  const names = new Set(taken);
  if (!names.has(base)) {
    return base;
  }
  for (let n = 2; ; n += 1) {
    const name = `${base.slice(0, 128 - String(n).length - 1)}_${n}`;
    if (!names.has(name)) {
      return name;
    }
  }
}
