// GET /v1/events: parsing a stream request and formatting its lines. The
// stream itself (buffers, the hub thread, MHD) is in admin_http.cc.

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "node/admin_http_api.h"

namespace pekonode::node::http {

namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool parse_index(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 20
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  try {
    out = std::stoull(text);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

bool wants_sse(const std::string& accept) {
  // Media ranges are case-insensitive; parameters (";q=") do not matter.
  std::string lower;
  for (char c : accept)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("text/event-stream") != std::string::npos;
}

} // namespace

bool parse_event_stream(const request& req, size_t max_prefix_bytes,
                        event_stream_params& out,
                        std::optional<response>& err) {
  out = event_stream_params{};
  out.sse = wants_sse(req.accept);
  if (auto* text = req.param("index")) {
    uint64_t n = 0;
    if (!parse_index(*text, n)) {
      err = error(400, "index must be a non-negative integer of at most 64 "
                       "bits (events after it are sent)");
      return false;
    }
    out.after = n;
  } else if (out.sse && !req.last_event_id.empty()) {
    uint64_t n = 0;
    if (!parse_index(req.last_event_id, n)) {
      err = error(400, "Last-Event-ID must be an event index (a "
                       "non-negative integer)");
      return false;
    }
    out.after = n;
  }
  if (auto* text = req.param("type")) {
    if (auto why = parse_event_types(*text, out.filter.types); !why.empty()) {
      err = error(400, "type: " + why);
      return false;
    }
  }
  if (auto* p = req.param("prefix")) {
    if (p->size() > max_prefix_bytes) {
      err = error(400, "prefix longer than " + std::to_string(max_prefix_bytes)
                         + " bytes");
      return false;
    }
    out.filter.prefix = *p;
  }
  return true;
}

std::string format_stream_event(const event_record& ev, bool sse) {
  auto data = dump(to_json(ev));
  if (!sse)
    return data + "\n";
  // The type is one of pekonode's names (no newline); data is one line.
  return "id: " + std::to_string(ev.index) + "\nevent: " + ev.type
         + "\ndata: " + data + "\n\n";
}

std::string format_stream_control(const json& line, bool sse) {
  auto data = dump(line);
  if (!sse)
    return data + "\n";
  auto type = line.value("type", std::string{"control"});
  if (type == "heartbeat")
    return ": heartbeat " + data + "\n\n";
  return "event: " + type + "\ndata: " + data + "\n\n";
}

} // namespace pekonode::node::http
