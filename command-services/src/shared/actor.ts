/** Who sent an HTTP command, as the auth layer established it. */
export interface Actor {
  userId: string;
  role: 'customer' | 'admin' | 'service';
}
