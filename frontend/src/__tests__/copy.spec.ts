/** "Open a copy to edit": a free name beside the notebook, and no record marker in the copy. */
import type { INotebookContent } from '@jupyterlab/nbformat';

import { copyPath, editableCopy } from '../copy';

describe('copyPath', () => {
  const none = async () => false;

  it('puts the copy beside the notebook, named after the execution', async () => {
    expect(await copyPath('reports/daily.ipynb', 'daily_at_2026_12_04_01_00_00', none)).toBe(
      'reports/daily_at_2026_12_04_01_00_00_copy.ipynb'
    );
    expect(await copyPath('sales.ipynb', 'weekly_at_2026_12_04_01_00_00', none)).toBe(
      'sales_weekly_at_2026_12_04_01_00_00_copy.ipynb'
    );
  });

  it('never reuses a name that is taken', async () => {
    const taken = new Set(['a_at_1_copy.ipynb', 'a_at_1_copy_2.ipynb']);
    const asked: string[] = [];
    const path = await copyPath('a.ipynb', 'a_at_1', async candidate => {
      asked.push(candidate);
      return taken.has(candidate);
    });
    expect(path).toBe('a_at_1_copy_3.ipynb');
    expect(asked).toEqual(['a_at_1_copy.ipynb', 'a_at_1_copy_2.ipynb', 'a_at_1_copy_3.ipynb']);
  });
});

describe('editableCopy', () => {
  it('drops the record marker and keeps everything else, leaving the record as it was', () => {
    const record = {
      cells: [
        { cell_type: 'code', source: 'x = 1', metadata: {}, outputs: [], execution_count: 1 }
      ],
      metadata: { nbgate: { execution_id: 'e1' }, papermill: { parameters: { x: 1 } } },
      nbformat: 4,
      nbformat_minor: 5
    } as unknown as INotebookContent;
    const copy = editableCopy(record);
    expect(copy.metadata).toEqual({ papermill: { parameters: { x: 1 } } });
    expect(copy.cells).toEqual(record.cells);
    expect(record.metadata.nbgate).toEqual({ execution_id: 'e1' });
  });
});
