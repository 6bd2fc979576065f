// Order history and one order, with "Cancel order" while it is pending.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, errorMessage, type Order, type Page } from '../api.js';
import type { AppProps } from '../main.js';
import { ItemsTable, Loading, Message, PageTitle, Price } from '../ui.js';

const PER_PAGE = 10;
const STATUS: Record<Order['status'], string> = { pending: 'Pending', paid: 'Paid', shipped: 'Shipped', delivered: 'Delivered', cancelled: 'Cancelled' };
const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function OrdersPage({ pageNo }: { pageNo: number }) {
  const [list, setList] = useState<Page<Order> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<Page<Order>>(`/orders?limit=${PER_PAGE}&offset=${(pageNo - 1) * PER_PAGE}`).then(setList, (err: unknown) => setProblem(errorMessage(err)));
  }, [pageNo]);
  const pages = list ? Math.max(1, Math.ceil(list.total / PER_PAGE)) : 1;
  return (
    <section class="orders">
      <PageTitle title="Your orders">Your orders</PageTitle>
      {problem && <Message kind="error">{problem}</Message>}
      {!list && !problem && <Loading what="your orders" />}
      {list && list.total === 0 && (
        <p>
          No orders yet. <a href="#/">Browse the catalogue</a>
        </p>
      )}
      {list && list.items.length > 0 && (
        <ul class="order-list">
          {list.items.map((o) => (
            <li key={o.id} class="card">
              <h2>
                <a href={`#/orders/${o.id}`}>Order #{o.id}</a>
              </h2>
              <p class="meta">
                <span>{when(o.created_at)}</span>
                <span class={`status ${o.status}`}>{STATUS[o.status]}</span>
              </p>
              <p class="meta">
                <span>
                  {o.items.length} item{o.items.length === 1 ? '' : 's'}
                </span>
                <Price value={o.total} label="Total" />
              </p>
            </li>
          ))}
        </ul>
      )}
      {pages > 1 && (
        <nav class="pager" aria-label="Pages">
          {pageNo > 1 ? <a href={`#/orders?page=${pageNo - 1}`}>← Newer</a> : <span />}
          <span>
            Page {pageNo} of {pages}
          </span>
          {pageNo < pages ? <a href={`#/orders?page=${pageNo + 1}`}>Older →</a> : <span />}
        </nav>
      )}
    </section>
  );
}

export function OrderPage({ id }: AppProps & { id: number }) {
  const [order, setOrder] = useState<Order | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (sessionStorage.getItem('shop.placed') === String(id)) {
      sessionStorage.removeItem('shop.placed');
      setNotice('Thank you! Your order is placed.');
    }
    api<Order>(`/orders/${id}`).then(setOrder, (err: unknown) =>
      setProblem(err instanceof ApiError && err.status === 404 ? 'There is no such order in your account.' : errorMessage(err)),
    );
  }, [id]);

  const cancel = async () => {
    setBusy(true);
    setProblem(null);
    setNotice(null);
    try {
      setOrder(await api<Order>(`/orders/${id}/cancel`, { method: 'POST' }));
      setNotice('The order is cancelled; its items are back in stock.');
    } catch (err) {
      setProblem(
        err instanceof ApiError && err.status === 409
          ? 'This order can no longer be cancelled online: it has moved on since this page was loaded. Please contact the shop.'
          : errorMessage(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="order">
      <PageTitle title={`Order #${id}`}>Order #{id}</PageTitle>
      {notice && <Message kind="success">{notice}</Message>}
      {problem && <Message kind="error">{problem}</Message>}
      {!order && !problem && <Loading what="the order" />}
      {order && (
        <>
          <p class="meta">
            <span>Placed {when(order.created_at)}</span>
            <span class={`status ${order.status}`}>Status: {STATUS[order.status]}</span>
          </p>
          <ItemsTable caption="Items" items={order.items} total={order.total} />
          <p class="actions">
            <a class="button secondary" href="#/orders">
              All orders
            </a>
            {order.status === 'pending' && (
              <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
                Cancel order
              </button>
            )}
          </p>
        </>
      )}
    </section>
  );
}
