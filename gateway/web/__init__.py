"""The gateway's local status page, JSON API, live events and Prometheus metrics.

Import :class:`gateway.web.server.StatusServer` and :mod:`gateway.web.config` directly: this
package imports nothing itself, so reading the configuration never loads aiohttp.
"""
