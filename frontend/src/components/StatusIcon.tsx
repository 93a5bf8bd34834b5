/**
 * An execution's status as a symbol; its word is given to assistive technology and in the tooltip.
 */
import * as React from 'react';

import { statusWord } from '../format';
import { ExecutionStatus } from '../tokens';

const ICONS: { [status in ExecutionStatus]: string } = {
  queued: '◷',
  running: '▶',
  succeeded: '✔',
  failed: '✖',
  cancelled: '■',
  timed_out: '⌛',
  skipped: '↷'
};

/** The symbol; `decorative` when the word is written beside it (then hidden from screen readers). */
export function StatusIcon(props: { status: ExecutionStatus; decorative?: boolean }): JSX.Element {
  const word = statusWord(props.status);
  return (
    <span
      className={`nbgate-StatusIcon nbgate-StatusIcon-${props.status}`}
      title={word}
      role={props.decorative ? undefined : 'img'}
      aria-label={props.decorative ? undefined : word}
      aria-hidden={props.decorative ? true : undefined}
    >
      {ICONS[props.status] ?? '?'}
    </span>
  );
}
