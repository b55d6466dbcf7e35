import type Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
  created_at TEXT NOT NULL
);
CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  sku TEXT NOT NULL UNIQUE,
  price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
  stock INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
  created_at TEXT NOT NULL
);
CREATE INDEX orders_user_id_idx ON orders(user_id);
CREATE INDEX orders_product_id_idx ON orders(product_id);
`;

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Linus', 'Radia', 'Ken'];
const LAST = ['Lovelace', 'Hopper', 'Turing'];
const ROLES = ['admin', 'developer', 'developer', 'viewer', 'viewer'] as const;
const PRODUCTS: [string, number][] = [
  ['Mechanical keyboard', 8900], ['USB-C hub', 3900], ['27" monitor', 24900], ['Laptop stand', 4500],
  ['Noise-cancelling headphones', 19900], ['Webcam', 6900], ['Desk lamp', 2900], ['Ergonomic mouse', 5900],
  ['Standing desk', 39900], ['Cable organiser', 1200], ['Microphone', 12900], ['Footrest', 3400],
];
const STATUSES = ['pending', 'paid', 'shipped', 'cancelled'] as const;

const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n)).toISOString();

/** Creates the demo tables and deterministic sample data (30 users, 12 products, 60 orders). */
export function seedDemoData(db: Database.Database): void {
  db.exec(SCHEMA);
  const user = db.prepare('INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)');
  const product = db.prepare('INSERT INTO products (name, sku, price_cents, stock) VALUES (?, ?, ?, ?)');
  const order = db.prepare('INSERT INTO orders (user_id, product_id, quantity, status, created_at) VALUES (?, ?, ?, ?, ?)');
  for (let i = 0; i < 30; i++) {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[Math.floor(i / FIRST.length)]!;
    user.run(`${first} ${last}`, `${first}.${last}@example.com`.toLowerCase(), ROLES[i % ROLES.length], day(i));
  }
  PRODUCTS.forEach(([name, price], i) => product.run(name, `SKU-${String(1001 + i)}`, price, (i * 7) % 40));
  for (let i = 0; i < 60; i++) {
    order.run(1 + ((i * 7) % 30), 1 + ((i * 5) % PRODUCTS.length), 1 + (i % 3), STATUSES[i % STATUSES.length], day(30 + i));
  }
}
