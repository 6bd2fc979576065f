// The API's shapes (api/src/http/schemas.ts, /openapi.json). Money stays a decimal string.

export type Money = string;

export interface Product {
  id: number;
  name: string;
  description: string;
  price: Money;
  stock: number;
  category_id: number | null;
  created_at: string;
  updated_at: string;
}
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}
export interface Category {
  id: number;
  name: string;
  slug: string;
  description: string;
  product_count: number;
}
export interface CartItem {
  id: number;
  product_id: number;
  name: string;
  unit_price: Money;
  quantity: number;
  line_total: Money;
}
export interface Cart {
  items: CartItem[];
  total: Money;
}
export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled';
export interface OrderItem {
  product_id: number;
  name: string;
  unit_price: Money;
  quantity: number;
  line_total: Money;
}
export interface Order {
  id: number;
  user_id: number;
  status: OrderStatus;
  total: Money;
  items: OrderItem[];
  created_at: string;
  updated_at: string;
}
export interface User {
  id: number;
  username: string;
  email: string;
  role: 'customer' | 'admin';
}
export interface FieldError {
  path: string;
  message: string;
}
