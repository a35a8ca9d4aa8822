import pytest

from core import models


@pytest.fixture(scope="session")
def default_lm():
    return models.load("default")


@pytest.fixture(scope="session")
def tiny_lm():
    return models.load("tiny")
