import { nameFromPath, uniqueName } from '../validate';

/** The server's rule for a name, here only to check that a suggestion keeps it. */
const SERVER_NAME = /^[a-z0-9_]{1,128}$/;

describe('the name suggested from the notebook', () => {
  it.each([
    ['dir/My Report-1.ipynb', 'my_report_1'],
    ['loyal_customer.ipynb', 'loyal_customer'],
    ['a/b/Ünïcode.ipynb', '_n_code'],
    ['.ipynb', '_ipynb'],
    [`${'x'.repeat(150)}.ipynb`, 'x'.repeat(100)]
  ])('%s prefills %s (as paths::name_from_stem)', (path, name) => {
    expect(nameFromPath(path)).toBe(name);
    expect(nameFromPath(path)).toMatch(SERVER_NAME);
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
    expect(name).toMatch(SERVER_NAME);
  });
});
