export interface RateLimitInit {
  /** Tokens added per second: the sustained rate allowed. */
  perSecond: number
  /** Bucket size: the burst allowed after a quiet spell. */
  burst: number
  /**
   * Refusals tolerated before the peer counts as abusive and is disconnected. The count
   * resets whenever the bucket has filled up again (the peer went quiet long enough).
   */
  maxStrikes: number
}

export type RateVerdict = 'ok' | 'limited' | 'abusive'

/**
 * A token bucket with a strike count, one per connection. Time comes from `now` (ms), so
 * tests drive it.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  private strikes = 0
  /** Tokens given for expected messages (see credit), spent before the bucket's. */
  private credits = 0
  private readonly init: RateLimitInit
  private readonly now: () => number

  constructor(init: RateLimitInit, now: () => number) {
    this.init = init
    this.now = now
    this.tokens = init.burst
    this.last = now()
  }

  /**
   * Allows `n` more messages on top of the rate: messages the peer was asked for (an agent owes
   * a start and a result for each task assigned to it), so a fast prover is not throttled for
   * answering. At most `max` credits are kept.
   */
  credit(n: number, max = 1_000_000): void {
    this.credits = Math.min(max, this.credits + n)
  }

  /** Takes one token: `ok`, `limited` (refuse this one) or `abusive` (refused too often: disconnect). */
  take(): RateVerdict {
    if (this.credits >= 1) {
      this.credits -= 1
      return 'ok'
    }
    const t = this.now()
    this.tokens = Math.min(this.init.burst, this.tokens + (Math.max(0, t - this.last) * this.init.perSecond) / 1000)
    this.last = t
    if (this.tokens >= this.init.burst) this.strikes = 0
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 'ok'
    }
    this.strikes++
    return this.strikes > this.init.maxStrikes ? 'abusive' : 'limited'
  }
}
