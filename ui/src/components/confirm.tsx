// Actions that change something ask first: a native <dialog> (focus moves into it, Escape closes it)
// naming what will happen, with the server's error shown in place if the action is refused.

import { type ReactNode, useEffect, useRef, useState } from "react";
import { ApiError } from "../api.ts";

export function ConfirmButton({
  label,
  title,
  body,
  confirm,
  danger,
  onConfirm,
  disabled,
  why,
  children,
}: {
  label: string;
  title: string;
  body: ReactNode;
  confirm: string;
  danger?: boolean;
  disabled?: boolean;
  /** Why the action is not possible now (the disabled button's title). */
  why?: string | undefined;
  onConfirm: () => Promise<unknown>;
  children?: ReactNode;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      setOpen(false);
    } catch (e) {
      setError(
        e instanceof ApiError && e.hint
          ? `${e.message} ${e.hint}`
          : e instanceof Error
            ? e.message
            : String(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        className={danger ? "danger" : undefined}
        onClick={() => setOpen(true)}
        disabled={disabled}
        title={disabled ? why : undefined}
      >
        {label}
      </button>
      <dialog ref={dialog} onClose={() => setOpen(false)} aria-labelledby={`dlg-${label}`}>
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <h2 id={`dlg-${label}`}>{title}</h2>
          <div>{body}</div>
          {children}
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" onClick={() => setOpen(false)}>
              Keep it
            </button>
            <button type="submit" className={danger ? "danger" : "primary"} disabled={busy}>
              {busy ? "Working…" : confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
