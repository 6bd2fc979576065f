-- Sample data for development and demos: idempotent (safe to load twice); never loaded in production.
-- Demo shopper: username demo, password demo-password-123.

INSERT INTO categories (name, slug, description) VALUES
  ('Electronics', 'electronics', 'Gadgets, audio and accessories'),
  ('Books', 'books', 'Paperbacks and hardcovers'),
  ('Home & Kitchen', 'home-kitchen', 'Cookware and household goods'),
  ('Sports & Outdoors', 'sports-outdoors', 'Gear for training and the trail'),
  ('Toys & Games', 'toys-games', 'Board games, puzzles and toys')
ON CONFLICT (slug) DO NOTHING;

INSERT INTO products (name, description, price, stock, category_id)
SELECT v.name, v.description, v.price::numeric, v.stock, c.id
FROM (VALUES
  ('Wireless Earbuds', 'Bluetooth 5.3 earbuds with a charging case', '49.99', 120, 'electronics'),
  ('Noise-Cancelling Headphones', 'Over-ear headphones, 30 h battery', '189.00', 40, 'electronics'),
  ('USB-C Charger 65W', 'GaN charger with two USB-C ports', '39.90', 200, 'electronics'),
  ('Mechanical Keyboard', 'Tenkeyless keyboard with brown switches', '89.50', 35, 'electronics'),
  ('Wireless Mouse', 'Ergonomic mouse, silent clicks', '24.99', 150, 'electronics'),
  ('4K Monitor 27"', 'IPS panel, USB-C input', '329.00', 12, 'electronics'),
  ('Portable SSD 1TB', 'USB 3.2 external solid state drive', '99.99', 60, 'electronics'),
  ('Smart Speaker', 'Voice assistant speaker with room-filling sound', '59.00', 80, 'electronics'),
  ('Webcam 1080p', 'Full HD webcam with privacy shutter', '44.50', 3, 'electronics'),
  ('Power Bank 20000mAh', 'Fast-charging power bank', '34.99', 0, 'electronics'),
  ('The Pragmatic Programmer', '20th anniversary edition', '42.00', 25, 'books'),
  ('Designing Data-Intensive Applications', 'The big ideas behind reliable, scalable systems', '45.50', 18, 'books'),
  ('Clean Architecture', 'A craftsman''s guide to software structure', '33.99', 22, 'books'),
  ('Refactoring', 'Improving the design of existing code', '47.25', 9, 'books'),
  ('Site Reliability Engineering', 'How Google runs production systems', '39.00', 14, 'books'),
  ('The Phoenix Project', 'A novel about IT and DevOps', '19.99', 50, 'books'),
  ('Database Internals', 'A deep dive into how databases work', '49.99', 7, 'books'),
  ('Working Effectively with Legacy Code', 'Strategies for code without tests', '44.00', 4, 'books'),
  ('Introduction to Algorithms', 'Fourth edition', '95.00', 10, 'books'),
  ('The Mythical Man-Month', 'Essays on software engineering', '29.95', 2, 'books'),
  ('Cast Iron Skillet 26cm', 'Pre-seasoned, oven safe', '34.90', 45, 'home-kitchen'),
  ('Chef''s Knife 20cm', 'High-carbon stainless steel', '59.90', 30, 'home-kitchen'),
  ('French Press 1L', 'Borosilicate glass coffee maker', '24.50', 70, 'home-kitchen'),
  ('Electric Kettle', '1.7 L, temperature control', '44.99', 25, 'home-kitchen'),
  ('Cutting Board Set', 'Three bamboo boards', '21.99', 90, 'home-kitchen'),
  ('Stand Mixer', '5 L bowl, 10 speeds', '249.00', 6, 'home-kitchen'),
  ('Non-stick Pan Set', 'Three pans, induction ready', '79.00', 15, 'home-kitchen'),
  ('Glass Storage Containers', 'Set of 10 with lids', '32.50', 40, 'home-kitchen'),
  ('Espresso Machine', '15 bar pump, milk frother', '199.00', 5, 'home-kitchen'),
  ('Digital Kitchen Scale', 'Precise to 1 g', '14.99', 110, 'home-kitchen'),
  ('Yoga Mat', '6 mm non-slip mat', '29.99', 80, 'sports-outdoors'),
  ('Adjustable Dumbbells', '2.5 to 24 kg per dumbbell', '299.00', 8, 'sports-outdoors'),
  ('Running Shoes', 'Lightweight road running shoes', '119.95', 40, 'sports-outdoors'),
  ('Hiking Backpack 40L', 'Water-resistant with rain cover', '89.00', 22, 'sports-outdoors'),
  ('Insulated Water Bottle', '750 ml, keeps cold for 24 h', '19.50', 150, 'sports-outdoors'),
  ('Camping Tent 2P', 'Two-person, three-season tent', '149.00', 10, 'sports-outdoors'),
  ('Resistance Bands', 'Set of five with handles', '17.99', 95, 'sports-outdoors'),
  ('Bike Helmet', 'Ventilated, adjustable fit', '54.90', 33, 'sports-outdoors'),
  ('Foam Roller', 'High-density, 45 cm', '22.00', 60, 'sports-outdoors'),
  ('Trekking Poles', 'Carbon, collapsible pair', '64.00', 1, 'sports-outdoors'),
  ('Strategy Board Game', 'Build settlements and trade resources', '44.99', 35, 'toys-games'),
  ('1000-Piece Puzzle', 'Mountain landscape jigsaw', '16.99', 70, 'toys-games'),
  ('Building Bricks Set', '500 pieces with storage box', '39.99', 55, 'toys-games'),
  ('Card Game Party Pack', 'For 3 to 10 players', '12.99', 140, 'toys-games'),
  ('Remote Control Car', 'Off-road, rechargeable', '59.00', 20, 'toys-games'),
  ('Chess Set', 'Wooden board and weighted pieces', '49.00', 15, 'toys-games'),
  ('Plush Bear', 'Soft, 40 cm', '18.50', 75, 'toys-games'),
  ('Science Kit', 'Twenty experiments for ages 8+', '34.00', 12, 'toys-games'),
  ('Wooden Train Set', 'Tracks, bridge and three wagons', '69.00', 9, 'toys-games'),
  ('Kite', 'Delta kite for beginners', '15.00', 0, 'toys-games')
) AS v (name, description, price, stock, category_slug)
JOIN categories c ON c.slug = v.category_slug
WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.name = v.name AND p.deleted_at IS NULL);

INSERT INTO users (username, email, password_hash, role)
VALUES ('demo', 'demo@example.com',
        'scrypt$32768$8$1$zxHYqE2PgXMSLaIEV5zU+Q==$lTIvvemGid6cBATfzNPGGM35k7tQxRfTM1fgfvjRVg8=', 'customer')
ON CONFLICT DO NOTHING;
