/** Puts the budget day's reset about twelve hours away, whatever the time of day the suite runs. */
export function farFromReset (): string {
  const now = new Date()
  const minutes = now.getUTCHours() * 60 + now.getUTCMinutes()
  // The budget day's clock reads now + offset: at 12:00 on it, the reset is twelve hours away.
  // (minutes - 720 read 2 × now − 12:00, which is midnight when the suite runs at 18:00 UTC.)
  return String(720 - minutes)
}
