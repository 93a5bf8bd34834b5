/**
 * Checks made in the dialog before anything is sent, worded as the server words them
 * (`server/scheduler/src/error.rs`), so a user sees the same sentence either way.
 */

/** A schedule name: 1 to 128 of `a-z`, `0-9`, `_` (`paths::is_valid_name`). */
export function scheduleNameError(name: string): string | null {
  return /^[a-z0-9_]{1,128}$/.test(name)
    ? null
    : `invalid name ${JSON.stringify(name)}: use 1 to 128 characters among a-z, 0-9 and _`;
}

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

/** Retries after a failed run, as the server bounds them (`schedules.rs`: 0 to 100). */
export const RETRIES = { min: 0, max: 100 };

/**
 * An optional number of seconds: empty is fine (no limit); otherwise a positive number, as the server
 * takes it (`a positive number of seconds`).
 */
export function optionalSecondsError(field: string, text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') {
    return null;
  }
  const value = Number(trimmed);
  if (!/^[0-9]*\.?[0-9]+$/.test(trimmed) || !Number.isFinite(value) || value <= 0) {
    return `${field} must be a positive number of seconds, e.g. 600, got ${trimmed}`;
  }
  return null;
}

/**
 * An optional whole number of seconds, minutes, retries…: empty is fine (the server's default);
 * otherwise an integer within `min..=max`. Worded as the server's `OutOfRange`.
 */
export function optionalIntegerError(
  field: string,
  text: string,
  min: number,
  max: number
): string | null {
  if (text.trim() === '') {
    return null;
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    return `${field} must be a whole number from ${min} to ${max}, got ${text.trim()}`;
  }
  return null;
}

/** A webhook the notifier can call: `http://host[:port][/path]` (`notify::parse_http_url`). */
export function webhookError(url: string): string | null {
  if (url.trim() === '') {
    return null;
  }
  return /^http:\/\/[^/\s:]+(:\d{1,5})?(\/\S*)?$/.test(url.trim())
    ? null
    : `invalid webhook URL ${JSON.stringify(url)}: use http://host[:port]/path`;
}

/** An output folder under the root: relative, no `..`. */
export function outputDirError(dir: string): string | null {
  const trimmed = dir.trim();
  if (trimmed === '') {
    return null;
  }
  if (trimmed.startsWith('/') || trimmed.split('/').includes('..')) {
    return `invalid path ${JSON.stringify(trimmed)}: use a folder inside the root directory, without ..`;
  }
  return null;
}
