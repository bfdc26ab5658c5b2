-- UTC calendar day of a ms timestamp, without os.date (sandboxed scripts).

local M = {}

local MS_PER_DAY = 86400000

-- ms since the epoch -> "YYYY-MM-DD" (UTC). Days-to-civil conversion from
-- H. Hinnant's "chrono-compatible low-level date algorithms".
function M.utc_day(ms)
  local z = math.floor(ms / MS_PER_DAY) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format("%04d-%02d-%02d", year, month, day)
end

return M
