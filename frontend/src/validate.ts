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
