"""Every JSON-RPC method, one module per resource, in the order the endpoint documents them."""

from __future__ import annotations

from service.rpc.methods.cards import card_methods
from service.rpc.methods.customers import customer_methods
from service.rpc.methods.groups import group_methods
from service.rpc.methods.search_index import search_index_methods
from service.rpc.methods.settings import settings_methods
from service.rpc.registry import MethodTable

METHODS = MethodTable(customer_methods, search_index_methods, settings_methods, card_methods, group_methods)
