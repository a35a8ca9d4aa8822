"""The real-world taxonomy a semantic world's categories are drawn from (data only).

`SKELETON` lists the categories, two spaces of indentation per level under the two roots,
animal and object; `SKELETON_ROWS` reads it into (gloss, parent gloss) pairs, parents first.
A world keeps `n_categories` of them and renames each with a nonsense word (structure.py).
"""

from __future__ import annotations

# The real-world skeleton: two spaces of indentation per level. Names are only glosses for the
# picture; every text of the world uses nonsense words.
SKELETON = """
animal
  mammal
    dog
      poodle
      beagle
      terrier
      collie
    feline
      lion
      tiger
      leopard
      housecat
    rodent
      mouse
      squirrel
      hamster
      beaver
    primate
      monkey
      gorilla
      lemur
    cetacean
      dolphin
      orca
      narwhal
    bear
      grizzly
      panda
    ungulate
      horse
      cow
      deer
      goat
    bat
    rabbit
  bird
    raptor
      eagle
      hawk
      owl
      falcon
    songbird
      sparrow
      robin
      finch
      canary
    waterfowl
      duck
      swan
      goose
    parrot
    penguin
    ostrich
  fish
    shark
      hammerhead
      mako
    salmon
    trout
    tuna
    goldfish
    eel
  reptile
    snake
      cobra
      python
      viper
    lizard
      gecko
      iguana
      chameleon
    turtle
    crocodile
  amphibian
    frog
    toad
    newt
    salamander
  insect
    beetle
      ladybug
      firefly
      weevil
    ant
    bee
    butterfly
    moth
    mosquito
object
  furniture
    seat
      chair
      stool
      sofa
      bench
    table
      desk
      workbench
    bed
    wardrobe
    bookshelf
  vehicle
    car
      sedan
      taxi
      convertible
    boat
      canoe
      yacht
      ferry
    aircraft
      airplane
      helicopter
      glider
    truck
    bus
    bicycle
    motorcycle
  tool
    hammer
    saw
    screwdriver
    wrench
    drill
    shovel
  instrument
    stringed
      guitar
      violin
      harp
      cello
    wind
      flute
      trumpet
      clarinet
    percussion
      drum
      xylophone
      cymbal
    piano
  clothing
    footwear
      boot
      sandal
      sneaker
    hat
    shirt
    coat
    glove
    sock
    scarf
  kitchenware
    utensil
      knife
      fork
      spoon
      ladle
    cookware
      pot
      pan
      kettle
    cup
    plate
    bowl
  container
    box
    bag
    bottle
    basket
    jar
    barrel
"""


def _skeleton() -> list[tuple[str, str | None]]:
    """(gloss, parent gloss) in the order written."""
    rows, stack = [], []
    for line in SKELETON.strip("\n").splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        del stack[depth:]
        rows.append((line.strip(), stack[-1] if stack else None))
        stack.append(line.strip())
    return rows


SKELETON_ROWS = _skeleton()
