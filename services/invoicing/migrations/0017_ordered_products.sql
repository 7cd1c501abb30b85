-- Which products an order holds, so that an organization's own users see only the products it
-- ordered (orders from before this change list none: they stay hidden from org users).
ALTER TABLE product_orders ADD COLUMN product_ids text[] NOT NULL DEFAULT '{}';
CREATE INDEX product_orders_org ON product_orders (org_id);
