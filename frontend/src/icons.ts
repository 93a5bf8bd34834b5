import { LabIcon } from '@jupyterlab/ui-components';

import executeSvg from '../style/icons/execute.svg';

/** Run a notebook now or on a schedule: a calendar with a play mark. */
export const executeIcon = new LabIcon({ name: 'nbgate:execute', svgstr: executeSvg });
