#include "node/proxy_binding.hpp"

#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "preview/route.hpp"
#include "preview/server.hpp"

namespace cmux::node {

namespace {

// ------------------------------------------------------------------------------------ log queue

// Log events from the I/O threads to the JS callback: a bounded queue drained on the JS thread
// through one thread-safe function. push() never blocks; what does not fit is counted, not kept.
class LogQueue : public std::enable_shared_from_this<LogQueue> {
 public:
  static constexpr std::size_t kCapacity = 4096;

  static std::shared_ptr<LogQueue> create(Napi::Env env, Napi::Function fn) {
    auto q = std::make_shared<LogQueue>();
    q->tsfn_ = Napi::ThreadSafeFunction::New(env, fn, "cmux-preview-proxy-log", 0, 1);
    q->tsfn_.Unref(env);  // a logging callback never keeps the process alive
    return q;
  }

  // Any thread.
  void push(const preview::LogEvent& event) {
    std::lock_guard lock(mutex_);
    if (released_ || queue_.size() >= kCapacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(event);
    if (scheduled_) return;
    scheduled_ = true;
    auto self = shared_from_this();
    if (tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function fn) { self->drain(env, fn); }) != napi_ok) {
      scheduled_ = false;  // the environment is going away: nothing will drain
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      queue_.clear();
    }
  }

  // JS thread, once no push can happen any more (the server's threads are joined).
  void release() {
    std::lock_guard lock(mutex_);
    if (released_) return;
    released_ = true;
    tsfn_.Release();
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  static Napi::Value to_js(Napi::Env env, const preview::LogValue& v) {
    if (auto* s = std::get_if<std::string>(&v)) return Napi::String::New(env, *s);
    if (auto* i = std::get_if<std::int64_t>(&v)) return Napi::Number::New(env, static_cast<double>(*i));
    return Napi::Boolean::New(env, std::get<bool>(v));
  }

  void drain(Napi::Env env, Napi::Function fn) {
    std::vector<preview::LogEvent> events;
    {
      std::lock_guard lock(mutex_);
      events.swap(queue_);
      scheduled_ = false;
    }
    if (!env || !fn) return;  // the environment is being torn down
    for (const auto& e : events) {
      Napi::Object obj = Napi::Object::New(env);
      obj.Set("event", Napi::String::New(env, e.event));
      for (const auto& [key, value] : e.fields) obj.Set(key, to_js(env, value));
      // The raw call, not fn.Call(): its failure while the environment shuts down (JS can no
      // longer run) must end the delivery quietly, and a logger that throws must not break
      // the proxy (nor surface as an uncaught exception).
      napi_value arg = obj;
      napi_value result = nullptr;
      napi_status status = napi_call_function(env, env.Undefined(), fn, 1, &arg, &result);
      if (status == napi_pending_exception) {
        napi_value ignored = nullptr;
        napi_get_and_clear_last_exception(env, &ignored);
      } else if (status != napi_ok) {
        return;
      }
    }
  }

  std::mutex mutex_;
  std::vector<preview::LogEvent> queue_;
  bool scheduled_ = false;
  bool released_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  Napi::ThreadSafeFunction tsfn_;
};

// ------------------------------------------------------------------------------------ conversions

std::string errno_name(const error_code& ec) {
  if (ec.category() == boost::system::system_category() || ec.category() == boost::system::generic_category()) {
    if (const char* name = strerrorname_np(ec.value())) return name;
  }
  return "ERR_CMUX_PROXY_START";
}

Napi::Error type_error(Napi::Env env, const std::string& message) { return Napi::TypeError::New(env, message); }

// Reads an optional string property; false (with a pending TypeError) when it has another type.
bool get_string(Napi::Object obj, const char* key, std::optional<std::string>& out) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsString()) {
    type_error(obj.Env(), std::string(key) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::String>().Utf8Value();
  return true;
}

std::optional<preview::Route> route_from_js(Napi::Value v, bool& ok) {
  ok = true;
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsObject()) {
    type_error(v.Env(), "route must be an object or null").ThrowAsJavaScriptException();
    ok = false;
    return std::nullopt;
  }
  Napi::Object o = v.As<Napi::Object>();
  std::optional<std::string> morph, scope, suffix, origin, workspace;
  ok = get_string(o, "morphId", morph) && get_string(o, "scope", scope) && get_string(o, "domainSuffix", suffix) &&
       get_string(o, "cmuxProxyOrigin", origin) && get_string(o, "workspace", workspace);
  if (!ok) return std::nullopt;
  return preview::Route{morph.value_or(""), scope.value_or(""), suffix.value_or(""), origin.value_or(""),
                        workspace};
}

Napi::Value route_to_js(Napi::Env env, const std::optional<preview::Route>& route) {
  if (!route) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("morphId", route->morph_id);
  o.Set("scope", route->scope);
  o.Set("domainSuffix", route->domain_suffix);
  if (!route->cmux_proxy_origin.empty()) o.Set("cmuxProxyOrigin", route->cmux_proxy_origin);
  if (route->workspace) o.Set("workspace", *route->workspace);
  return o;
}

Napi::Value context_to_js(Napi::Env env, const preview::Context& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", c.id);
  o.Set("username", c.username);
  o.Set("password", c.password);
  o.Set("webContentsId", Napi::Number::New(env, static_cast<double>(c.web_contents_id)));
  if (c.persist_key) o.Set("persistKey", *c.persist_key);
  o.Set("route", route_to_js(env, c.route));
  return o;
}

// ------------------------------------------------------------------------------------ the server

class NativeServer;

// Per-environment state: the server class and every server not yet stopped (they hold a strong
// reference to themselves, so a dropped handle keeps serving until stop() or teardown).
struct AddonState {
  Napi::FunctionReference server_class;
  std::set<NativeServer*> running;
};

struct Started {
  std::unique_ptr<preview::PreviewServer> server;
  std::shared_ptr<LogQueue> log;
};

class NativeServer : public Napi::ObjectWrap<NativeServer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeServer",
                       {
                           InstanceAccessor<&NativeServer::port>("port"),
                           InstanceAccessor<&NativeServer::ca_pem>("caCertificatePem"),
                           InstanceAccessor<&NativeServer::ca_spki>("caSpkiSha256"),
                           InstanceMethod<&NativeServer::create_context>("createContext"),
                           InstanceMethod<&NativeServer::get_context>("getContext"),
                           InstanceMethod<&NativeServer::release_context>("releaseContext"),
                           InstanceMethod<&NativeServer::stats>("stats"),
                           InstanceMethod<&NativeServer::stop>("stop"),
                       });
  }

  explicit NativeServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeServer>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      type_error(info.Env(), "NativeServer is created by start()").ThrowAsJavaScriptException();
      return;
    }
    auto* started = info[0].As<Napi::External<Started>>().Data();
    server_ = std::move(started->server);
    log_ = std::move(started->log);
    port_ = server_->port();
    ca_pem_ = server_->ca_certificate_pem();
    ca_spki_ = server_->ca_spki_sha256();
    Ref();  // alive until stopped, whatever JS does with the handle
    state(info.Env()).running.insert(this);
  }

  ~NativeServer() override { stop_now(); }

  // Synchronous stop (environment teardown): joins the I/O threads on this thread.
  void stop_now() {
    if (!server_ || stopped_) return;
    stopped_ = true;
    server_->stop();  // waits for a StopWorker's stop() that may be running
    if (!stopping_) server_.reset();  // else the worker still holds it; freed with the process
    if (log_) log_->release();
  }

  static AddonState& state(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

 private:
  Napi::Value port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
  Napi::Value ca_pem(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ca_pem_); }
  Napi::Value ca_spki(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ca_spki_); }

  // createContext(webContentsId: number, persistKey?: string, route: object | null)
  Napi::Value create_context(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live(env)) return env.Undefined();
    if (!info[0].IsNumber()) {
      type_error(env, "webContentsId must be a number").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    double id = info[0].As<Napi::Number>().DoubleValue();
    if (!(id >= 0) || id > 9007199254740991.0 || id != static_cast<double>(static_cast<std::uint64_t>(id))) {
      Napi::RangeError::New(env, "webContentsId must be a non-negative integer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::optional<std::string> persist_key;
    if (!info[1].IsUndefined() && !info[1].IsNull()) {
      if (!info[1].IsString()) {
        type_error(env, "persistKey must be a string").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      persist_key = info[1].As<Napi::String>().Utf8Value();
    }
    bool ok = true;
    auto route = route_from_js(info[2], ok);
    if (!ok) return env.Undefined();
    auto created = server_->contexts().create(static_cast<std::uint64_t>(id), std::move(persist_key), std::move(route));
    if (!created) {
      Napi::Error::New(env, created.error()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return context_to_js(env, **created);
  }

  Napi::Value get_context(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!server_ || stopped_ || !info[0].IsNumber()) return env.Null();
    double id = info[0].As<Napi::Number>().DoubleValue();
    if (!(id >= 0)) return env.Null();
    auto c = server_->contexts().find(static_cast<std::uint64_t>(id));
    return c ? context_to_js(env, *c) : env.Null();
  }

  Napi::Value release_context(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!server_ || stopped_ || !info[0].IsString()) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, server_->contexts().release(info[0].As<Napi::String>().Utf8Value()));
  }

  Napi::Value stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    preview::PreviewStats s;
    if (server_ && !stopped_) s = server_->stats();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* k, std::uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
    set("activeConnections", s.active_connections);
    set("totalConnections", s.total_connections);
    set("activeStreams", s.active_streams);
    set("totalRequests", s.total_requests);
    set("bytesFromClients", s.bytes_from_clients);
    set("bytesToClients", s.bytes_to_clients);
    set("upstreamConnections", s.upstream_connections);
    set("upstreamSessions", s.upstream_sessions);
    set("contexts", s.contexts);
    set("droppedLogEvents", log_ ? log_->dropped() : 0);
    return o;
  }

  // Joins the native threads off the JS thread; every call gets a promise that settles once
  // the server is stopped (idempotent).
  class StopWorker : public Napi::AsyncWorker {
   public:
    StopWorker(Napi::Env env, NativeServer* self) : Napi::AsyncWorker(env, "cmux-preview-proxy-stop"), self_(self) {}
    void Execute() override { self_->server_->stop(); }
    void OnOK() override { self_->finish_stop(Env()); }

   private:
    NativeServer* self_;
  };

  Napi::Value stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto deferred = Napi::Promise::Deferred::New(env);
    if (!server_ || stopped_) {
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    waiters_.push_back(deferred);
    if (!stopping_) {
      stopping_ = true;
      (new StopWorker(env, this))->Queue();
    }
    return deferred.Promise();
  }

  void finish_stop(Napi::Env env) {
    stopped_ = true;
    server_.reset();  // stop() frees the proxy's memory now, not when V8 collects the handle
    if (log_) log_->release();
    state(env).running.erase(this);
    auto waiters = std::move(waiters_);
    for (auto& d : waiters) d.Resolve(env.Undefined());
    Unref();  // the handle may now be collected
  }

  bool live(Napi::Env env) {
    if (server_ && !stopped_ && !stopping_) return true;
    Napi::Error::New(env, "the proxy server is stopped").ThrowAsJavaScriptException();
    return false;
  }

  std::unique_ptr<preview::PreviewServer> server_;
  std::shared_ptr<LogQueue> log_;
  std::uint16_t port_ = 0;
  std::string ca_pem_;
  std::string ca_spki_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::vector<Napi::Promise::Deferred> waiters_;
};

// start(config: object, log?: (event) => void): Promise<NativeServer>. The config is already
// validated by js/index.js; types are checked again here so nothing reaches C++ unchecked.
Napi::Value start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (!info[0].IsObject()) {
    type_error(env, "config must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object c = info[0].As<Napi::Object>();
  preview::PreviewConfig config;
  std::optional<std::string> listen, upstream, ca_dir;
  if (!get_string(c, "listenAddr", listen) || !get_string(c, "upstreamProxyUrl", upstream) ||
      !get_string(c, "caDir", ca_dir))
    return env.Undefined();
  config.listen_addr = listen;
  config.upstream_proxy_url = upstream.value_or("");
  config.ca_dir = ca_dir.value_or("");
  if (Napi::Value v = c.Get("enableHttp2"); v.IsBoolean()) config.enable_http2 = v.As<Napi::Boolean>();
  if (Napi::Value v = c.Get("tlsIntercept"); v.IsBoolean()) config.tls_intercept = v.As<Napi::Boolean>();
  if (Napi::Value v = c.Get("threads"); v.IsNumber()) config.threads = v.As<Napi::Number>().Uint32Value();
  if (Napi::Value v = c.Get("upstreamCaCerts"); v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    for (std::uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value pem = a.Get(i);
      if (!pem.IsString()) {
        type_error(env, "upstreamCaCerts[" + std::to_string(i) + "] must be a string").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      config.upstream_ca_pems.push_back(pem.As<Napi::String>().Utf8Value());
    }
  }
  if (Napi::Value v = c.Get("resolve"); v.IsObject()) {
    Napi::Object r = v.As<Napi::Object>();
    Napi::Array keys = r.GetPropertyNames();
    for (std::uint32_t i = 0; i < keys.Length(); ++i) {
      std::string key = keys.Get(i).ToString().Utf8Value();
      Napi::Value to = r.Get(key);
      if (!to.IsString()) {
        type_error(env, "resolve[\"" + key + "\"] must be a string").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      config.resolve[key] = to.As<Napi::String>().Utf8Value();
    }
  }
  std::shared_ptr<LogQueue> log;
  if (info.Length() > 1 && info[1].IsFunction()) {
    log = LogQueue::create(env, info[1].As<Napi::Function>());
    config.log = [log](const preview::LogEvent& e) { log->push(e); };
  }

  auto server = preview::PreviewServer::start(std::move(config));
  if (!server) {
    if (log) log->release();
    Napi::Error error = Napi::Error::New(env, server.error().message);
    error.Set("code", Napi::String::New(env, errno_name(server.error().code)));
    deferred.Reject(error.Value());
    return deferred.Promise();
  }
  Started started{std::move(*server), std::move(log)};
  Napi::Object handle = NativeServer::state(env).server_class.New({Napi::External<Started>::New(env, &started)});
  if (env.IsExceptionPending()) return env.Undefined();
  deferred.Resolve(handle);
  return deferred.Promise();
}

Napi::Value derive_route(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    type_error(env, "url must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return route_to_js(env, preview::derive_route(info[0].As<Napi::String>().Utf8Value()));
}

// Environment teardown (process exit, worker termination): running servers are stopped here,
// on the JS thread, so no native thread outlives the environment.
void cleanup(void* arg) {
  auto* st = static_cast<AddonState*>(arg);
  auto running = st->running;
  for (NativeServer* s : running) s->stop_now();
  st->running.clear();
}

}  // namespace

void register_proxy(Napi::Env env, Napi::Object exports) {
  auto* st = new AddonState;
  st->server_class = Napi::Persistent(NativeServer::define(env));
  env.SetInstanceData<AddonState>(st);
  napi_add_env_cleanup_hook(env, cleanup, st);
  exports.Set("start", Napi::Function::New(env, start, "start"));
  exports.Set("deriveRoute", Napi::Function::New(env, derive_route, "deriveRoute"));
}

}  // namespace cmux::node
