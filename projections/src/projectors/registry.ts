import { mailboxProjection } from './mailbox';
import { ordersProjection } from './orders';
import { productsProjection } from './products';
import type { AnyProjection } from './projection';
import { sagaStatsProjection } from './saga-stats';
import { sagasProjection } from './sagas';
import { statsProjection } from './stats';

/** Every projection the system runs, listed in one place. */
export const allProjections: readonly AnyProjection[] = [
  ordersProjection,
  sagasProjection,
  productsProjection,
  statsProjection,
  mailboxProjection,
  sagaStatsProjection,
];

export const projectionNames = allProjections.map((p) => p.name);

export function projectionNamed(name: string): AnyProjection | undefined {
  return allProjections.find((p) => p.name === name);
}
