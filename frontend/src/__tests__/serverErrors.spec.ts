import { fieldOfServerError } from '../components/serverErrors';
import { parameterFields } from '../schema';

const fields = parameterFields([
  { name: 'N', type: 'int', default: '1', default_value: 1, help: '' }
]);

describe("the server's errors, shown at their field", () => {
  it.each([
    ['invalid name "Bad Name": use 1 to 128 characters among a-z, 0-9 and _', 'name'],
    ['a schedule named "daily" already exists', 'name'],
    ['parameter "N" must be int (its default in the notebook is 1), got string', 'N'],
    ['unknown parameters ["M"]; the notebook\'s parameters cell declares ["N"]', 'parameters'],
    ['invalid cron expression "0 9 * *": …', 'cron'],
    ['unknown time zone "Mars/Olympus": use an IANA name such as Europe/Paris or UTC', 'timezone'],
    ['unknown kernel "julia"; available: ["python3"]', 'kernel'],
    ['retries must be 0 to 100, got 500', 'retries'],
    ['invalid path "../x": outside the root', 'outputDir'],
    ['invalid webhook URL "ftp://x": use http', 'webhook'],
    ['The nbgate gateway is not reachable: restart JupyterLab; see its log for why.', null]
  ])('%s → %s', (message, field) => {
    expect(fieldOfServerError(message, fields)).toBe(field);
  });
});
