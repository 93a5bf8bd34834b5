/**
 * Which field of the Execute dialog a server error is about, from the server's own words
 * (`server/scheduler/src/error.rs`): the message is then shown at that field, once.
 */
import { ParameterField } from '../schema';

/** A server error and the dialog field it concerns (null: the request as a whole). */
export interface ServerError {
  field: string | null;
  message: string;
}

/** Message starts → the dialog's field. */
const PATTERNS: [RegExp, string][] = [
  [/^invalid name |^a schedule named .* already exists/, 'name'],
  [/^invalid cron expression |^invalid interval /, 'cron'],
  [/^unknown time zone /, 'timezone'],
  [/^unknown kernel |^no kernel given /, 'kernel'],
  [/^timeout must /, 'timeout'],
  [/^cell_timeout must /, 'cellTimeout'],
  [/^retries must /, 'retries'],
  [/^invalid path /, 'outputDir'],
  [/^invalid webhook URL /, 'webhook'],
  [/^invalid output pattern /, 'outputs'],
  [/^invalid expectation |^expect must /, 'expect'],
  [/^unknown parameters |^the notebook has no cell tagged `parameters`/, 'parameters']
];

/** The field `message` is about: a parameter's name, a dialog field, `parameters`, or null. */
export function fieldOfServerError(message: string, parameters: ParameterField[]): string | null {
  // `parameter "N" must be int (its default …)`, `Passed unknown parameter: N`.
  const named = /^parameter "([^"]+)" /.exec(message) ?? /unknown parameter: (\w+)/.exec(message);
  if (named && parameters.some(field => field.name === named[1])) {
    return named[1];
  }
  for (const [pattern, field] of PATTERNS) {
    if (pattern.test(message)) {
      return field;
    }
  }
  return null;
}
