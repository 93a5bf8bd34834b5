import {
  nameFromPath,
  optionalIntegerError,
  optionalSecondsError,
  outputDirError,
  RETRIES,
  scheduleNameError,
  uniqueName,
  webhookError
} from '../validate';

describe('schedule names, as the server validates them', () => {
  it.each(['daily_report_2', 'a', '0', 'x'.repeat(128), 'loyal_customer'])('%s is valid', name => {
    expect(scheduleNameError(name)).toBeNull();
  });

  it.each(['', 'Daily', 'a-b', 'a b', 'x'.repeat(129), 'é', 'a.b'])(
    "%j is refused in the server's words",
    name => {
      expect(scheduleNameError(name)).toBe(
        `invalid name ${JSON.stringify(name)}: use 1 to 128 characters among a-z, 0-9 and _`
      );
    }
  );

  it.each([
    ['dir/My Report-1.ipynb', 'my_report_1'],
    ['loyal_customer.ipynb', 'loyal_customer'],
    ['a/b/Ünïcode.ipynb', '_n_code'],
    ['.ipynb', '_ipynb'],
    [`${'x'.repeat(150)}.ipynb`, 'x'.repeat(100)]
  ])('%s prefills %s (as paths::name_from_stem)', (path, name) => {
    expect(nameFromPath(path)).toBe(name);
    expect(scheduleNameError(nameFromPath(path))).toBeNull();
  });
});

describe('advanced options', () => {
  it.each([
    ['', null],
    ['30', null],
    ['0', 'timeout must be a whole number from 1 to 604800, got 0'],
    ['1.5', 'timeout must be a whole number from 1 to 604800, got 1.5'],
    ['abc', 'timeout must be a whole number from 1 to 604800, got abc']
  ])('timeout %j', (text, error) => {
    expect(optionalIntegerError('timeout', text, 1, 604800)).toBe(error);
  });

  it.each([
    ['', null],
    ['reports/daily', null],
    ['/etc', 'invalid path "/etc": use a folder inside the root directory, without ..'],
    ['a/../../b', 'invalid path "a/../../b": use a folder inside the root directory, without ..']
  ])('output folder %j', (dir, error) => {
    expect(outputDirError(dir)).toBe(error);
  });

  it.each([
    ['', null],
    ['http://localhost:9000/hook', null],
    ['http://hooks.internal/x', null],
    [
      'https://example.com',
      'invalid webhook URL "https://example.com": use http://host[:port]/path'
    ],
    ['ftp://x', 'invalid webhook URL "ftp://x": use http://host[:port]/path']
  ])('webhook %j', (url, error) => {
    expect(webhookError(url)).toBe(error);
  });
});

describe('the suggested schedule name', () => {
  it('is the notebook name when no schedule has it', () => {
    expect(uniqueName('loyal_customer', ['other'])).toBe('loyal_customer');
  });

  it('takes the first free _2, _3… suffix', () => {
    expect(uniqueName('report', ['report'])).toBe('report_2');
    expect(uniqueName('report', ['report', 'report_2', 'report_3', 'report_5'])).toBe('report_4');
  });

  it('stays a valid name at the longest', () => {
    const long = 'x'.repeat(128);
    const name = uniqueName(long, [long]);
    expect(name).toBe(`${'x'.repeat(126)}_2`);
    expect(scheduleNameError(name)).toBeNull();
  });
});

describe('advanced options, bounded as the server bounds them', () => {
  it('allows retries from 0 to 100, as the scheduler does', () => {
    expect(RETRIES).toEqual({ min: 0, max: 100 });
    expect(optionalIntegerError('retries', '100', RETRIES.min, RETRIES.max)).toBeNull();
    expect(optionalIntegerError('retries', '101', RETRIES.min, RETRIES.max)).toBe(
      'retries must be a whole number from 0 to 100, got 101'
    );
  });

  it.each(['', '600', '0.5', '86400.25'])('accepts %j seconds', text => {
    expect(optionalSecondsError('the run timeout', text)).toBeNull();
  });

  it.each(['0', '-5', 'abc', '1e999', '10 s'])('refuses %j seconds', text => {
    expect(optionalSecondsError('the run timeout', text)).toBe(
      `the run timeout must be a positive number of seconds, e.g. 600, got ${text}`
    );
  });
});
