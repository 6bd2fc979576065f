// Small shared pieces: messages, form fields with their errors, prices.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { formatMoney } from './money.js';

export function Price({ value, label }: { value: string; label?: string }) {
  return (
    <span class="price" aria-label={label ? `${label} ${formatMoney(value)}` : undefined}>
      {formatMoney(value)}
    </span>
  );
}

/** role=alert for errors (read at once), role=status for the rest. */
export function Message({ kind, children }: { kind: 'error' | 'info' | 'success'; children: ComponentChildren }) {
  return (
    <p class={`message ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

export function Field(props: {
  id: string;
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (aria: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ComponentChildren;
}) {
  const describedBy = [props.error ? `${props.id}-error` : '', props.hint ? `${props.id}-hint` : ''].filter(Boolean).join(' ');
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children({ id: props.id, 'aria-invalid': Boolean(props.error), ...(describedBy ? { 'aria-describedby': describedBy } : {}) })}
      {props.hint && (
        <small id={`${props.id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${props.id}-error`} class="field-error">
          {props.error}
        </small>
      )}
    </div>
  );
}

let firstPage = true;

/** The page's heading: focused after a navigation (not on load), so keyboard and screen reader users start there. */
export function PageTitle({ children, title }: { children: ComponentChildren; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Shop`;
    if (firstPage) firstPage = false;
    else if (document.activeElement === document.body || document.activeElement?.closest('header')) ref.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

export interface Line {
  product_id: number;
  name: string;
  unit_price: string;
  quantity: number;
  line_total: string;
}

/** The lines of a checkout or an order, and the API's total. */
export function ItemsTable({ caption, items, total }: { caption: string; items: Line[]; total: string }) {
  return (
    <>
      <table class="items">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Unit price</th>
            <th scope="col">Qty</th>
            <th scope="col">Subtotal</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.product_id}>
              <td>
                <a href={`#/products/${item.product_id}`}>{item.name}</a>
              </td>
              <td>
                <Price value={item.unit_price} />
              </td>
              <td>{item.quantity}</td>
              <td>
                <Price value={item.line_total} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="total">
        Total <Price value={total} />
      </p>
    </>
  );
}
