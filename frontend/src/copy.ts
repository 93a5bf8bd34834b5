/**
 * "Open a copy to edit": an execution's output notebook is a record (the server refuses to save over it,
 * recognising it by its `metadata.nbgate` marker); the user edits a copy beside their notebook, without
 * the marker, so that Lab saves it as any notebook.
 */
import type { INotebookContent } from '@jupyterlab/nbformat';

/** The metadata key that marks a recorded output notebook. */
export const RECORD_KEY = 'nbgate';

/** A deep copy of the notebook without the record marker. */
export function editableCopy(notebook: INotebookContent): INotebookContent {
  const copy = JSON.parse(JSON.stringify(notebook)) as INotebookContent;
  delete (copy.metadata as { [key: string]: unknown })[RECORD_KEY];
  return copy;
}

/** The folder of a path relative to the root ("" for the root itself). */
export function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * Where to write an editable copy of an execution's output: beside its notebook, named
 * `<notebook>_<execution>_copy.ipynb` (the execution's name without the notebook's, when it starts with
 * it), then `_copy_2`, `_copy_3`… until `taken` says the name is free.
 */
export async function copyPath(
  notebook: string,
  executionName: string,
  taken: (path: string) => Promise<boolean>
): Promise<string> {
  const folder = folderOf(notebook);
  const stem = notebook.slice(folder ? folder.length + 1 : 0).replace(/\.ipynb$/, '');
  const base = executionName.startsWith(`${stem}_`)
    ? `${executionName}_copy`
    : `${stem}_${executionName}_copy`;
  for (let n = 1; ; n++) {
    const name = `${base}${n === 1 ? '' : `_${n}`}.ipynb`;
    const path = folder ? `${folder}/${name}` : name;
    if (!(await taken(path))) {
      return path;
    }
  }
}
