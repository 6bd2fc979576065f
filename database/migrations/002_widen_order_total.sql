-- Order totals: numeric(12,2) held at most 9,999,999,999.99, less than 101 units of a product at
-- the highest price (99,999,999.99), so such an order failed with a numeric overflow. The API
-- bounds an order to 100 lines of at most 10,000 units (a cart to 100 lines of 1,000), so a total
-- stays below 100 lines x 10,000 x 99,999,999.99 < 10^14: numeric(16,2) holds every one.
-- Raising a numeric's precision rewrites nothing (PostgreSQL >= 9.2): instant on a large table.
ALTER TABLE orders ALTER COLUMN total TYPE numeric(16,2);
