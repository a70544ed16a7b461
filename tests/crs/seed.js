// Builds a claude-relay-service Redis with claude-relay-service's own code, for `keyward import crs`.
//
// Usage: node tests/crs/seed.js <copy of claude-relay-service> <output.json>
// Environment: REDIS_HOST, REDIS_PORT, ENCRYPTION_KEY (32 chars), JWT_SECRET, TIMEZONE_OFFSET, as the
// service itself reads them (config/config.js). The copy must have config/config.js and node_modules.
//
// The service's usage functions take no date: they count "now" in its TIMEZONE_OFFSET. To record usage
// on several days, this script moves the process clock (the global `Date`) to each chosen instant
// before calling them, so every key name and counter is the one the service computes itself.
//
// Writes JSON to <output.json>: for every key created, its id, plain secret, the options it was
// created with, what was done to it afterwards, and every usage it recorded (instant, model, tokens,
// the costs the service returned). Stdout is left to the service's logger.
'use strict'

const path = require('path')
const fs = require('fs')

const [crsDir, outputFile] = process.argv.slice(2)
if (!crsDir || !outputFile) {
  console.error('usage: node seed.js <claude-relay-service copy> <output.json>')
  process.exit(2)
}

// The clock the service sees: real time shifted by `shiftMs`. Only `new Date()` without arguments
// and `Date.now()` move; dates built from explicit values are untouched.
const RealDate = Date
let shiftMs = 0
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) {
      super(RealDate.now() + shiftMs)
    } else {
      super(...args)
    }
  }

  static now() {
    return RealDate.now() + shiftMs
  }
}
global.Date = ShiftedDate

async function at(instant, action) {
  shiftMs = instant.getTime() - RealDate.now()
  try {
    return await action()
  } finally {
    shiftMs = 0
  }
}

process.chdir(crsDir)
const crs = (relative) => require(path.join(crsDir, relative))
const redis = crs('src/models/redis')
const pricingService = crs('src/services/pricingService')
const apiKeyService = crs('src/services/apiKeyService')

const DAY_MS = 86400000
const HOUR_MS = 3600000

function utcMidnightToday() {
  const now = new RealDate()
  return RealDate.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
}

async function main() {
  await redis.connect()
  // The price table the service ships (its `initialize()` would try to download a newer one).
  pricingService.pricingData = JSON.parse(
    fs.readFileSync(
      path.join(crsDir, 'resources/model-pricing/model_prices_and_context_window.json'),
      'utf8'
    )
  )

  const today = utcMidnightToday()
  const createdAt = new RealDate(today - 45 * DAY_MS + 9 * HOUR_MS)
  const realNow = RealDate.now()
  const seeded = []
  const byLabel = {}

  async function create(label, options) {
    const created = await at(createdAt, () => apiKeyService.generateApiKey(options))
    const entry = {
      label,
      id: created.id,
      apiKey: created.apiKey,
      createdAt: created.createdAt,
      options,
      actions: [],
      usage: []
    }
    seeded.push(entry)
    byLabel[label] = entry
    return entry
  }

  async function use(entry, instant, model, accountType, usage) {
    const result = await at(instant, () =>
      apiKeyService.recordUsageWithDetails(entry.id, usage, model, `acct-${accountType}`, accountType)
    )
    entry.usage.push({
      at: instant.toISOString(),
      model,
      accountType,
      inputTokens: usage.input_tokens || 0,
      outputTokens: usage.output_tokens || 0,
      cacheCreateTokens: usage.cache_creation_input_tokens || 0,
      cacheReadTokens: usage.cache_read_input_tokens || 0,
      ephemeral5mTokens: usage.cache_creation?.ephemeral_5m_input_tokens || 0,
      ephemeral1hTokens: usage.cache_creation?.ephemeral_1h_input_tokens || 0,
      realCost: result.realCost,
      ratedCost: result.ratedCost
    })
  }

  // Every field generateApiKey takes, none left at its default.
  const full = await create('full', {
    name: 'full',
    description: 'every field set',
    tokenLimit: 50000,
    expiresAt: new RealDate(today + 30 * DAY_MS).toISOString(),
    claudeAccountId: 'claude-acc-1',
    claudeConsoleAccountId: 'console-acc-1',
    geminiAccountId: 'api:gemini-api-1',
    openaiAccountId: 'responses:openai-resp-1',
    azureOpenaiAccountId: 'azure-acc-1',
    bedrockAccountId: 'bedrock-acc-1',
    droidAccountId: 'group:droid-group-1',
    permissions: ['claude', 'openai'],
    concurrencyLimit: 3,
    rateLimitWindow: 60,
    rateLimitRequests: 100,
    rateLimitCost: 2.5,
    enableModelRestriction: true,
    restrictedModels: ['claude-opus-4-1-20250805', 'gpt-5'],
    enableClientRestriction: true,
    allowedClients: ['claude_code', 'gemini_cli'],
    dailyCostLimit: 12.5,
    totalCostLimit: 300,
    weeklyOpusCostLimit: 40,
    tags: ['team-a', 'prod'],
    icon: 'data:image/png;base64,iVBORw0KGgo=',
    serviceRates: { claude: 1.5, codex: 0.8 },
    weeklyResetDay: 3,
    weeklyResetHour: 6,
    enableOpenAIResponsesCodexAdaptation: false,
    enableOpenAIResponsesPayloadRules: true,
    openaiResponsesPayloadRules: [{ path: 'reasoning.effort', valueType: 'string', value: 'high' }],
    createdBy: 'alice',
    userId: 'user-1',
    userUsername: 'alice'
  })
  const plain = await create('plain', { name: 'plain' })
  await create('permission-string', { name: 'permission-string', permissions: 'gemini' })
  await create('permission-list', {
    name: 'permission-list',
    permissions: ['claude', 'gemini', 'openai', 'droid']
  })
  await create('expired', {
    name: 'expired',
    expiresAt: new RealDate(today - DAY_MS).toISOString()
  })
  const disabled = await create('disabled', { name: 'disabled', dailyCostLimit: 5 })
  const deleted = await create('deleted', { name: 'deleted', tags: ['gone'] })
  const restored = await create('restored', { name: 'restored' })
  await create('activation-pending', {
    name: 'activation-pending',
    expirationMode: 'activation',
    activationDays: 30,
    activationUnit: 'days'
  })
  const activatedHours = await create('activation-hours-expired', {
    name: 'activation-hours-expired',
    expirationMode: 'activation',
    activationDays: 12,
    activationUnit: 'hours'
  })
  const activatedDays = await create('activation-days', {
    name: 'activation-days',
    expirationMode: 'activation',
    activationDays: 30,
    activationUnit: 'days'
  })
  const regenerated = await create('regenerated', { name: 'regenerated' })

  // The first use of an activation-mode key starts its clock (validateApiKey does it).
  const activationInstant = new RealDate(today - DAY_MS + 8 * HOUR_MS)
  for (const entry of [activatedHours, activatedDays]) {
    const result = await at(activationInstant, () => apiKeyService.validateApiKey(entry.apiKey))
    if (!result.valid) {
      throw new Error(`activating ${entry.label}: ${result.error}`)
    }
    entry.actions.push({ action: 'activate', at: activationInstant.toISOString() })
  }

  const regeneratedAt = new RealDate(createdAt.getTime() + DAY_MS)
  const fresh = await at(regeneratedAt, () => apiKeyService.regenerateApiKey(regenerated.id))
  regenerated.replacedApiKey = regenerated.apiKey
  regenerated.apiKey = fresh.key
  regenerated.actions.push({ action: 'regenerate', at: regeneratedAt.toISOString() })

  // Usage on several days; some instants fall on another calendar day in TIMEZONE_OFFSET than in UTC.
  const sonnet = (input, output, cacheWrite = 0, cacheRead = 0) => ({
    input_tokens: input,
    output_tokens: output,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: 0 }
  })
  const instants = {
    lastMonth: new RealDate(today - 40 * DAY_MS + 10 * HOUR_MS),
    threeDaysAgoEvening: new RealDate(today - 3 * DAY_MS + 20 * HOUR_MS + 30 * 60000),
    twoDaysAgoEarly: new RealDate(today - 2 * DAY_MS + 3 * HOUR_MS + 15 * 60000),
    yesterdayNoon: new RealDate(today - DAY_MS + 12 * HOUR_MS),
    recent: new RealDate(realNow - 10 * 60000)
  }
  await use(full, instants.lastMonth, 'claude-sonnet-4-20250514', 'claude-official', sonnet(1200, 340))
  await use(full, instants.threeDaysAgoEvening, 'claude-opus-4-1-20250805', 'claude-official', {
    input_tokens: 2000,
    output_tokens: 800,
    cache_creation_input_tokens: 1500,
    cache_read_input_tokens: 4000,
    cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 }
  })
  await use(full, instants.twoDaysAgoEarly, 'gpt-5', 'openai', {
    input_tokens: 900,
    output_tokens: 2100
  })
  await use(
    full,
    instants.twoDaysAgoEarly,
    'us.anthropic.claude-3-5-haiku-20241022-v1:0',
    'bedrock',
    sonnet(700, 150)
  )
  await use(full, instants.yesterdayNoon, 'claude-sonnet-4-20250514', 'claude-official', sonnet(3000, 1000, 200, 9000))
  await use(full, instants.recent, 'claude-sonnet-4-20250514', 'claude-official', sonnet(10, 20))
  await use(plain, instants.threeDaysAgoEvening, 'gemini-2.5-pro', 'gemini', {
    input_tokens: 5000,
    output_tokens: 700
  })
  await use(plain, instants.yesterdayNoon, 'gemini-2.5-pro', 'gemini', {
    input_tokens: 100,
    output_tokens: 50
  })
  await use(disabled, instants.twoDaysAgoEarly, 'claude-sonnet-4-20250514', 'claude-console', sonnet(400, 60))
  await use(deleted, instants.lastMonth, 'claude-sonnet-4-20250514', 'claude-official', sonnet(800, 90))
  await use(activatedDays, instants.yesterdayNoon, 'claude-sonnet-4-20250514', 'claude-official', sonnet(50, 25))

  // Lifecycle changes, as the admin routes make them.
  const changedAt = new RealDate(realNow - 5 * 60000)
  await at(changedAt, () => apiKeyService.updateApiKey(disabled.id, { isActive: false }))
  disabled.actions.push({ action: 'disable', at: changedAt.toISOString() })
  await at(changedAt, () => apiKeyService.deleteApiKey(deleted.id, 'admin', 'admin'))
  deleted.actions.push({ action: 'delete', at: changedAt.toISOString(), by: 'admin' })
  await at(changedAt, () => apiKeyService.deleteApiKey(restored.id, 'admin', 'admin'))
  await at(changedAt, () => apiKeyService.restoreApiKey(restored.id, 'admin', 'admin'))
  restored.actions.push({ action: 'delete', at: changedAt.toISOString(), by: 'admin' })
  restored.actions.push({ action: 'restore', at: changedAt.toISOString(), by: 'admin' })

  fs.writeFileSync(
    outputFile,
    JSON.stringify(
      {
        timezoneOffset: Number(process.env.TIMEZONE_OFFSET),
        encryptionKey: process.env.ENCRYPTION_KEY,
        keys: seeded
      },
      null,
      2
    )
  )
  await redis.disconnect()
}

main()
  .then(() => process.exit(0))
  .catch((error) => {
    console.error(error && error.stack ? error.stack : error)
    process.exit(1)
  })
