/**
 * A real modal dialog: a native `<dialog>` opened with `showModal()` (the page behind it is inert, so
 * focus stays inside), titled by `aria-labelledby`. Escape and a click on the backdrop ask the content
 * to close (it may confirm first); when it closes, focus goes back to the element that opened it.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

export interface IModalDialogProps {
  /** The id of the dialog's title element. */
  labelledBy: string;
  className?: string;
  /** Escape or a press on the backdrop. */
  onRequestClose: (how: 'escape' | 'backdrop') => void;
  children: React.ReactNode;
}

export function ModalDialog(props: IModalDialogProps): JSX.Element {
  const ref = React.useRef<HTMLDialogElement>(null);
  React.useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }, []);
  return (
    <dialog
      ref={ref}
      className={`nbgate-Modal${props.className ? ` ${props.className}` : ''}`}
      aria-modal="true"
      aria-labelledby={props.labelledBy}
      onCancel={event => {
        // Escape: the content decides (an edited form asks first).
        event.preventDefault();
        props.onRequestClose('escape');
      }}
      onKeyDown={event => {
        // Escape is handled here, its default (the dialog's `cancel`) prevented: Chrome may close a
        // dialog without a cancelable `cancel` on a second Escape, behind the content's back.
        if (event.key === 'Escape' && !event.defaultPrevented) {
          event.preventDefault();
          props.onRequestClose('escape');
        } else if (event.key === 'Tab' && ref.current) {
          wrapFocus(ref.current, event);
        }
      }}
      onMouseDown={event => {
        // The dialog has no padding: a press on the dialog element itself is on the backdrop.
        if (event.target === ref.current) {
          // Focus stays where it is (or goes where the content puts it), not on the <dialog>.
          event.preventDefault();
          props.onRequestClose('backdrop');
        }
      }}
    >
      <div className="nbgate-Modal-content">{props.children}</div>
    </dialog>
  );
}

const FOCUSABLE =
  'input:not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled]), [href], [tabindex]:not([tabindex="-1"])';

/**
 * Tab from the last control goes to the first, Shift+Tab from the first to the last: the page behind
 * is inert already, this keeps focus off the browser's own toolbar too.
 */
function wrapFocus(dialog: HTMLDialogElement, event: React.KeyboardEvent): void {
  const focusable = Array.from(dialog.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    element => element.offsetParent !== null || element === document.activeElement
  );
  if (focusable.length === 0) {
    return;
  }
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  const active = document.activeElement;
  if (event.shiftKey && (active === first || active === dialog)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && active === last) {
    event.preventDefault();
    first.focus();
  }
}

/**
 * Shows `render(close)` in a modal dialog over the page. `close()` removes it and gives focus back to
 * `returnFocus` (default: the element focused when it opened).
 */
export function openModal(
  render: (close: () => void) => JSX.Element,
  returnFocus: HTMLElement | null = document.activeElement as HTMLElement | null
): void {
  let closed = false;
  const close = () => {
    if (closed) {
      return;
    }
    closed = true;
    host.dispose();
    if (returnFocus?.isConnected) {
      returnFocus.focus();
    }
  };
  const host = ReactWidget.create(render(close));
  host.addClass('nbgate-ModalHost');
  Widget.attach(host, document.body);
}

/** "Discard your changes?" inside the dialog; Keep editing has the focus (Escape keeps editing too). */
export function DiscardConfirm(props: { onKeep: () => void; onDiscard: () => void }): JSX.Element {
  const keep = React.useRef<HTMLButtonElement>(null);
  const before = React.useRef<Element | null>(document.activeElement);
  React.useEffect(() => {
    keep.current?.focus();
    const previous = before.current;
    return () => {
      if (previous instanceof HTMLElement && previous.isConnected) {
        previous.focus();
      }
    };
  }, []);
  return (
    <div
      className="nbgate-ExecuteDialog-confirm"
      role="alertdialog"
      aria-labelledby="nbgate-ExecuteDialog-confirm-question"
    >
      <span id="nbgate-ExecuteDialog-confirm-question">Discard the changes you made?</span>
      <button
        type="button"
        ref={keep}
        className="jp-Dialog-button jp-mod-reject jp-mod-styled nbgate-ExecuteDialog-keep"
        onClick={props.onKeep}
      >
        Keep editing
      </button>
      <button
        type="button"
        className="jp-Dialog-button jp-mod-warn jp-mod-styled nbgate-ExecuteDialog-discard"
        onClick={props.onDiscard}
      >
        Discard
      </button>
    </div>
  );
}
