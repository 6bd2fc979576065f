-- Initial schema: users, catalogue, carts, orders, idempotency keys, revoked tokens.
-- Money is NUMERIC, never float; stock can never go negative (last line of defence).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
  id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username      text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 50),
  email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  password_hash text NOT NULL,
  role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same account.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE categories (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{1,100}$'),
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
  price       numeric(10,2) NOT NULL CHECK (price >= 0),
  stock       integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
  category_id integer REFERENCES categories (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  -- Soft delete: order lines keep pointing at the product they sold.
  deleted_at  timestamptz
);
-- One index per filter/sort the list endpoint offers, restricted to live products.
CREATE INDEX products_created_at_idx ON products (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX products_price_idx ON products (price, id) WHERE deleted_at IS NULL;
CREATE INDEX products_name_idx ON products (name, id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_in_stock_idx ON products (id) WHERE deleted_at IS NULL AND stock > 0;
-- Substring search (ILIKE '%q%') on name and description.
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX products_description_trgm_idx ON products USING gin (description gin_trgm_ops) WHERE deleted_at IS NULL;

CREATE TABLE cart_items (
  id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  product_id integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cart_items_user_product_key UNIQUE (user_id, product_id)
);
CREATE INDEX cart_items_product_idx ON cart_items (product_id);

CREATE TABLE orders (
  id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    integer NOT NULL REFERENCES users (id),
  status     text NOT NULL DEFAULT 'pending'
             CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
  total      numeric(12,2) NOT NULL CHECK (total >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_pending_idx ON orders (id) WHERE status = 'pending';

CREATE TABLE order_items (
  id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id     integer NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  product_id   integer NOT NULL REFERENCES products (id),
  product_name text NOT NULL,
  unit_price   numeric(10,2) NOT NULL CHECK (unit_price >= 0),
  quantity     integer NOT NULL CHECK (quantity > 0),
  CONSTRAINT order_items_order_product_key UNIQUE (order_id, product_id)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- Stripe-style idempotency: the first response for (user, key) is replayed on retries.
CREATE TABLE idempotency_keys (
  user_id         integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key             text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  fingerprint     text NOT NULL,
  response_status integer NOT NULL,
  -- json, not jsonb: a replay must return the very bytes (key order included) of the first answer.
  response_body   json NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- Source of truth for logout; Redis only mirrors it for the per-request check.
CREATE TABLE revoked_tokens (
  jti        uuid PRIMARY KEY,
  user_id    integer,
  expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);
