"""Build the demo documents in sample_docs/ and their question files, deterministically.

    .venv/bin/python sample_docs/build_samples.py [--out DIR]

Writes three documents (two PDFs via reportlab, one DOCX via python-docx) and one
``<name>.questions.jsonl`` per document. Every document is defined below as a list of
pages; each page carries the questions whose answers are on it, so the page numbers in
the question files follow from the content and cannot drift. Re-running produces
byte-identical files: reportlab runs with ``invariant=1`` and the DOCX is re-zipped with
fixed timestamps and fixed core properties.

All companies, products, people, addresses and phone numbers are fictional.
Run ``sample_docs/check_samples.py`` afterwards to verify the answers against the
text extracted from the files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

# A fixed moment used for every date stored in the files' metadata.
FIXED_DATE = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Para:
    """A paragraph of prose; ``<b>..</b>`` marks bold text."""

    text: str


@dataclass(frozen=True)
class Sub:
    """A sub-heading inside a page."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Steps:
    """A numbered list."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]  # fractions of the text width


@dataclass(frozen=True)
class Note:
    """A boxed call-out (warnings, disclaimers)."""

    text: str


@dataclass(frozen=True)
class Clause:
    """A numbered contract clause (DOCX only)."""

    number: str
    text: str


@dataclass(frozen=True)
class Item:
    """An indented lettered sub-clause or a definition (DOCX only)."""

    text: str


Block = Union[Para, Sub, Bullets, Steps, Table, Note, Clause, Item]


@dataclass(frozen=True)
class QA:
    question: str
    answer: str


@dataclass
class Page:
    heading: str
    blocks: list[Block]
    questions: list[QA] = field(default_factory=list)


@dataclass
class SampleDoc:
    filename: str
    title: str
    subtitle: str
    author: str
    footer: str
    intro: list[Block]  # printed above the first page's heading
    pages: list[Page]


# ------------------------------------------------------------------ document 1: manual

MANUAL = SampleDoc(
    filename="aquaflow-dishwasher-manual.pdf",
    title="AquaFlow DW-450 Built-in Dishwasher",
    subtitle="User manual and installation guide - document AF-DW450-EN, revision 3",
    author="Brightwater Home Appliances Ltd (fictional)",
    footer="AquaFlow DW-450 user manual",
    intro=[
        Note(
            "Sample content: the AquaFlow DW-450 and Brightwater Home Appliances Ltd are "
            "fictional. This manual was written as demo material for domainchat."
        ),
    ],
    pages=[
        Page(
            "1. Important safety instructions",
            [
                Para(
                    "Thank you for choosing the AquaFlow DW-450. Read this manual completely "
                    "before you install and use the appliance, and keep it for future reference. "
                    "If you pass the dishwasher on to someone else, hand over this manual as well. "
                    "The manufacturer is not liable for damage caused by ignoring these instructions."
                ),
                Sub("General safety"),
                Bullets(
                    (
                        "The appliance is intended for washing household dishes and cutlery only. "
                        "Never wash objects soiled with petrol, paint, solvents, ash or wax.",
                        "Children from 8 years of age may load and unload the dishwasher only under "
                        "supervision. Children younger than 3 years must be kept away from the "
                        "appliance unless they are continuously supervised.",
                        "Do not sit or stand on the open door and never place more than 15 kg on it: "
                        "the appliance could tip forward.",
                        "Load knives and utensils with sharp points into the cutlery basket with the "
                        "points facing down, or lay them flat in the cutlery tray.",
                        "Dishwasher detergent is strongly alkaline and can burn eyes, mouth and "
                        "throat. Store it out of reach of children and fill the dispenser only "
                        "immediately before starting a programme.",
                        "Open the door carefully while a programme is running: hot steam can escape.",
                    )
                ),
                Sub("Electrical safety"),
                Bullets(
                    (
                        "Connect the appliance only to a correctly installed, earthed socket. Do not "
                        "use extension leads or multi-way adaptors.",
                        "A damaged power cable must be replaced by Brightwater Service or a similarly "
                        "qualified person in order to avoid a hazard.",
                        "Always unplug the appliance before cleaning the filters or carrying out "
                        "any maintenance.",
                    )
                ),
                Sub("Leak protection"),
                Para(
                    "The inlet hose contains the AquaStop safety valve. If the inner water hose "
                    "leaks, the valve shuts off the water supply and the small window on the valve "
                    "housing turns red. The housing contains electrical parts: never cut it, never "
                    "immerse it in water and never shorten the inlet hose."
                ),
            ],
            [
                QA("What is the maximum weight that may be placed on the open door of the dishwasher?", "15 kg"),
                QA(
                    "Children younger than what age must be kept away from the dishwasher unless continuously supervised?",
                    "3 years",
                ),
            ],
        ),
        Page(
            "2. Installation",
            [
                Para(
                    "The DW-450 is a fully integrated appliance designed to be built in under a "
                    "continuous kitchen worktop and fitted with a furniture door panel. Installation "
                    "and connection must be carried out by a qualified installer in accordance with "
                    "local regulations. Check the appliance for transport damage before installing "
                    "it; never connect a damaged appliance."
                ),
                Sub("Niche dimensions"),
                Bullets(
                    (
                        "Width of the niche: 600 mm.",
                        "Height of the niche: 820 to 870 mm, set with the adjustable feet.",
                        "Depth of the niche: at least 560 mm.",
                    )
                ),
                Sub("Water supply"),
                Bullets(
                    (
                        "Connect the inlet hose to a cold water tap with a 3/4-inch thread. The "
                        "appliance may also be connected to a hot water supply with a maximum "
                        "temperature of 60 °C.",
                        "The water pressure must be between 0.05 and 1.0 MPa (0.5 to 10 bar). Below "
                        "this range, ask a plumber for advice; above it, fit a pressure-reducing valve.",
                        "Always use the new hoses supplied with the appliance. Do not reuse old hoses.",
                    )
                ),
                Sub("Drain connection"),
                Para(
                    "Connect the drain hose to the spigot of a sink trap or to a standpipe. The highest "
                    "point of the drain hose must be between 400 mm and 1000 mm above the floor, and the "
                    "end of the hose must never sit in water. If the drain hose has to be extended, its "
                    "total length must not exceed 4 metres, and the extension must have the same inner "
                    "diameter."
                ),
                Sub("Levelling and fixing"),
                Para(
                    "Place a spirit level on the door and on the tub rail and turn the two front feet "
                    "and the rear foot until the appliance stands level; the rear foot is adjusted with "
                    "the screw at the front of the base. Fix the appliance to the underside of the "
                    "worktop with the two mounting brackets supplied. If the dishwasher has been "
                    "transported lying on its side, leave it standing upright for at least 4 hours "
                    "before connecting it, so that oil can flow back into the pump."
                ),
            ],
            [
                QA(
                    "What is the maximum inlet water temperature if the dishwasher is connected to a hot water supply?",
                    "60 °C",
                ),
                QA(
                    "How long should the dishwasher stand upright before it is connected if it was transported lying on its side?",
                    "at least 4 hours",
                ),
            ],
        ),
        Page(
            "3. Control panel and display",
            [
                Para(
                    "The control panel is on the top edge of the door, so it is only visible when the "
                    "door is open. The display shows the selected programme, the remaining time in "
                    "hours and minutes, and the indicators described below."
                ),
                Table(
                    ("Button or indicator", "Function"),
                    (
                        ("Power", "Switches the appliance on and off."),
                        ("Program", "Steps through the programmes; the chosen programme lights up."),
                        ("Delay", "Delays the start in steps of one hour, up to 24 hours."),
                        ("Half Load", "Reduces water and time when only a few dishes are loaded."),
                        ("ExtraDry", "Raises the final rinse temperature and extends the drying phase."),
                        ("Start/Pause", "Starts, pauses or resumes the selected programme."),
                        ("Salt indicator", "Lights when the salt container needs refilling."),
                        ("Rinse aid indicator", "Lights when the rinse aid dispenser needs refilling."),
                    ),
                    (0.3, 0.7),
                ),
                Sub("Starting a programme"),
                Steps(
                    (
                        "Turn the water tap fully on.",
                        "Press Power, then press Program until the programme you want lights up.",
                        "Select options such as Half Load or ExtraDry if required.",
                        "Press Start/Pause and close the door. The programme starts as soon as the door is closed.",
                    )
                ),
                Sub("Cancelling a programme"),
                Para(
                    "Open the door carefully and press and hold Start/Pause for 3 seconds. The display "
                    "shows two dashes while the appliance pumps out the remaining water."
                ),
                Sub("Child lock"),
                Para(
                    "To stop children from changing a programme, press Delay and ExtraDry together until "
                    "a key symbol appears in the display. Repeat to switch the child lock off."
                ),
                Sub("End of programme"),
                Para(
                    "At the end of a programme a buzzer sounds and the display shows End. To save "
                    "energy, the appliance switches itself off 15 minutes after the end of the "
                    "programme if no button is pressed."
                ),
            ],
            [
                QA("Which two buttons must be pressed together to activate the child lock?", "Delay and ExtraDry"),
                QA(
                    "How long after the end of a programme does the dishwasher switch itself off if no button is pressed?",
                    "15 minutes",
                ),
            ],
        ),
        Page(
            "4. Programmes",
            [
                Para(
                    "Choose the programme according to the type of load and how dirty it is. The values "
                    "below were measured under standard conditions with a full load and cold inlet water; "
                    "actual values vary with the load, the water temperature and the options selected."
                ),
                Table(
                    ("Programme", "Suitable for", "Wash temp.", "Duration", "Water", "Energy"),
                    (
                        ("Eco 50°", "Normally soiled everyday dishes; the most efficient programme", "50 °C", "3 h 55 min", "9.9 l", "0.84 kWh"),
                        ("Auto 45-65°", "Mixed loads; sensors measure how dirty the water is", "45-65 °C", "1 h 40 min to 2 h 40 min", "8-14 l", "0.90-1.40 kWh"),
                        ("Intensive 70°", "Pots and pans with dried-on or burnt-on food", "70 °C", "2 h 45 min", "15.5 l", "1.65 kWh"),
                        ("Hygiene 75°", "Chopping boards and baby bottles", "75 °C", "2 h 10 min", "14 l", "1.45 kWh"),
                        ("Glass 45°", "Delicate glasses and lightly soiled china", "45 °C", "1 h 50 min", "11 l", "0.95 kWh"),
                        ("Quick 30'", "Lightly soiled dishes that need no drying", "40 °C", "30 min", "10 l", "0.70 kWh"),
                        ("Rinse & Hold", "A part load that will be washed later", "cold", "15 min", "4 l", "0.02 kWh"),
                    ),
                    (0.15, 0.33, 0.11, 0.19, 0.09, 0.13),
                ),
                Sub("Choosing the right programme"),
                Bullets(
                    (
                        "Eco 50° is the programme used for the energy label. It runs longer than the "
                        "other programmes because soaking time replaces heating, which saves energy.",
                        "Auto 45-65° is the best choice when you are unsure: the turbidity sensor adapts "
                        "the temperature and the number of rinses to the amount of soil.",
                        "Hygiene 75° holds the final rinse at a high temperature for ten minutes. It is "
                        "recommended for chopping boards and baby bottles.",
                        "Quick 30' does not include a drying phase; unload the dishes promptly.",
                        "Rinse & Hold uses no detergent. Use it to prevent odours when the dishwasher "
                        "will not be full for a day or two.",
                    )
                ),
                Para(
                    "Selecting Half Load shortens most programmes and reduces water use; it cannot be "
                    "combined with Quick 30' or Rinse & Hold."
                ),
            ],
            [
                QA("How long does the Intensive 70° programme take?", "2 h 45 min"),
                QA("How much water does the Eco 50° programme use?", "9.9 l"),
            ],
        ),
        Page(
            "5. Water softener, detergent and rinse aid",
            [
                Para(
                    "Hard water leaves limescale on dishes and inside the appliance. The built-in water "
                    "softener removes calcium using dishwasher salt. Set it to match your local water "
                    "hardness, which you can obtain from your water supplier."
                ),
                Table(
                    ("Setting", "Hardness (°dH)", "Hardness (mmol/l)", "Salt needed"),
                    (
                        ("H1", "0-5", "0-0.9", "no"),
                        ("H2", "6-11", "1.0-2.0", "yes"),
                        ("H3 (factory setting)", "12-17", "2.1-3.0", "yes"),
                        ("H4", "18-22", "3.1-3.9", "yes"),
                        ("H5", "23-34", "4.0-6.1", "yes"),
                        ("H6", "35-50", "6.2-8.9", "yes"),
                    ),
                    (0.3, 0.23, 0.25, 0.22),
                ),
                Sub("Setting the hardness level"),
                Steps(
                    (
                        "With the appliance switched off, hold down Program and press Power. The display "
                        "shows the current setting.",
                        "Press Program repeatedly until the setting you need is shown.",
                        "Press no button for 5 seconds: the setting is saved and the appliance switches off.",
                    )
                ),
                Sub("Dishwasher salt"),
                Para(
                    "The salt container is in the bottom of the tub and holds about 1.2 kg of coarse "
                    "dishwasher salt. Never use table salt. Before filling it for the first time, pour in "
                    "1 litre of water. Start a programme straight after refilling so that spilled salt "
                    "is rinsed away."
                ),
                Sub("Detergent and rinse aid"),
                Para(
                    "Use powder, gel or tablets made for dishwashers and put them in the main "
                    "compartment of the dispenser, never in the cutlery basket. For powder, 20 g is "
                    "enough for a normal load. The rinse aid dispenser holds 110 ml. Its dosage can be "
                    "set from 1 to 6; the factory setting is level 4. Increase the dosage if glasses show "
                    "water spots, reduce it if they show streaks or a sticky film. Combination tablets with built-in "
                    "salt and rinse aid may be used, but in hard water we still recommend filling the salt container."
                ),
            ],
            [
                QA("What is the factory setting of the water softener?", "H3"),
                QA("How much dishwasher salt does the salt container hold?", "1.2 kg"),
            ],
        ),
        Page(
            "6. Cleaning and maintenance",
            [
                Para(
                    "Regular cleaning keeps the wash results good and prevents faults. Switch the "
                    "appliance off and unplug it before any cleaning."
                ),
                Sub("Cleaning the filter system"),
                Para(
                    "The filter system in the base of the tub consists of a cylindrical coarse filter, "
                    "a flat fine filter and a micro filter. Food residue collects in it, so check and "
                    "clean the filters once a week."
                ),
                Steps(
                    (
                        "Pull out the lower basket.",
                        "Turn the coarse filter anticlockwise and lift it out together with the micro filter.",
                        "Lift out the fine filter.",
                        "Rinse all parts under running water, using a soft brush. Never use metal scourers.",
                        "Refit the fine filter, insert the coarse filter and turn it clockwise until the "
                        "two arrows line up.",
                    )
                ),
                Note("Never run the dishwasher without the filters: debris would block the pump."),
                Sub("Spray arms"),
                Para(
                    "If the spray arms do not turn freely or their nozzles are blocked, remove them: pull "
                    "the lower spray arm straight up, and unscrew the retaining nut of the upper spray arm. "
                    "Clear blocked nozzles with a toothpick and rinse the arms under running water."
                ),
                Sub("Keeping the dishwasher fresh"),
                Para(
                    "Once a month, run the Intensive programme with detergent but without dishes. Wipe "
                    "the door seal and the edges of the door with a damp cloth."
                ),
                Sub("Problems without an error code"),
                Bullets(
                    (
                        "Dishes not clean: make sure the spray arms can turn, do not overload the baskets "
                        "and choose a more intensive programme.",
                        "White film on glasses: the salt container is empty or the hardness setting is too low.",
                        "Dishes not dry: refill rinse aid or select ExtraDry; plastic items always dry less well.",
                        "Rust marks on cutlery: the cutlery is not stainless steel.",
                    )
                ),
            ],
            [
                QA("How often should the filters be checked and cleaned?", "once a week"),
            ],
        ),
        Page(
            "7. Error codes",
            [
                Para(
                    "When the appliance detects a fault, it stops the programme, the buzzer sounds and "
                    "the display shows an error code. Many faults can be cleared by switching the "
                    "appliance off, waiting one minute and switching it on again. If a code keeps "
                    "returning, contact Brightwater Service."
                ),
                Table(
                    ("Code", "Meaning", "Possible cause", "What to do"),
                    (
                        ("E1", "Water inlet fault: the tub did not fill in time", "Tap closed, inlet hose kinked, inlet filter blocked or pressure too low", "Open the tap fully, straighten the hose and clean the inlet filter"),
                        ("E2", "Drain fault: water was not pumped out", "Filters blocked, drain hose kinked or sink trap blocked", "Clean the filters and check the drain hose and sink trap"),
                        ("E3", "Heating fault", "Heating element or its relay defective", "Restart once; if E3 returns, call Brightwater Service"),
                        ("E4", "Leak detected: AquaStop has closed", "Water in the base tray, or foam from hand washing-up liquid", "Turn off the tap, unplug the appliance and call Brightwater Service"),
                        ("E5", "Temperature sensor fault", "Sensor open or short-circuited", "Call Brightwater Service"),
                        ("E6", "Circulation pump blocked", "Broken glass or a small object in the pump", "Unplug, remove the filters and clear the pump carefully"),
                        ("E7", "Door not closed", "Items sticking out of a basket or a dirty door latch", "Check the load and close the door firmly"),
                        ("E8", "Diverter valve fault", "Water cannot be switched between spray arms", "Switch off and on; if E8 returns, call Brightwater Service"),
                        ("E9", "Button stuck", "A button held for more than 30 seconds, or moisture in the panel", "Wipe the control panel dry and switch the appliance off and on"),
                    ),
                    (0.09, 0.27, 0.32, 0.32),
                ),
                Para(
                    "Before calling Brightwater Service, note the model number and the serial number. "
                    "Both are printed on the rating plate on the right-hand edge of the door."
                ),
            ],
            [
                QA("Which error code means that a leak was detected and AquaStop has closed?", "E4"),
                QA("What should you do when error code E9 appears?", "Wipe the control panel dry"),
            ],
        ),
        Page(
            "8. Technical specifications and warranty",
            [
                Table(
                    ("Specification", "Value"),
                    (
                        ("Model", "AquaFlow DW-450, fully integrated, 60 cm"),
                        ("Capacity", "14 place settings"),
                        ("Energy efficiency class", "C"),
                        ("Airborne noise emission", "44 dB(A)"),
                        ("Power supply", "220-240 V, 50 Hz"),
                        ("Rated power", "1900 W"),
                        ("Fuse", "10 A"),
                        ("Appliance dimensions (W x H x D)", "598 x 818 x 550 mm"),
                        ("Net weight", "36 kg"),
                    ),
                    (0.45, 0.55),
                ),
                Sub("Warranty"),
                Para(
                    "Brightwater Home Appliances Ltd guarantees the DW-450 against defects in materials "
                    "and workmanship for 2 years from the date of purchase, covering parts and labour. "
                    "If you register the appliance online within 90 days of purchase, the parts warranty "
                    "is extended to 5 years; labour is charged after the second year. Keep your proof of "
                    "purchase: it is required for every warranty claim. Repairs during the warranty period must be carried "
                    "out by Brightwater Service; repairs by anyone else void the warranty."
                ),
                Para("The warranty does not cover:"),
                Bullets(
                    (
                        "glass and plastic parts broken through misuse;",
                        "limescale damage caused by an incorrect water hardness setting;",
                        "commercial or shared use, for example in offices or holiday lets;",
                        "faults caused by installation that does not follow this manual.",
                    )
                ),
                Sub("Customer service"),
                Para(
                    "Brightwater Service: telephone 0800 555 0142, Monday to Friday 8:00 to 20:00 and "
                    "Saturday 9:00 to 17:00, or www.brightwater-appliances.example. Original spare parts "
                    "are available for at least 10 years after the last appliance of this model was sold. "
                    "At the end of its life, take the appliance to a collection point for waste electrical "
                    "equipment; do not put it in household waste."
                ),
            ],
            [
                QA("How long is the standard warranty on the DW-450?", "2 years"),
                QA("What is the airborne noise emission of the DW-450?", "44 dB(A)"),
            ],
        ),
    ],
)


# ----------------------------------------------------------------- document 2: licence

LICENCE = SampleDoc(
    filename="software-license-agreement.docx",
    title="Software-as-a-Service Licence Agreement",
    subtitle="RouteLedger subscription - agreement reference LS-KF-2026-014",
    author="Lumentra Systems Ltd (fictional)",
    footer="RouteLedger SaaS Licence Agreement LS-KF-2026-014 - page ",
    intro=[
        Note(
            "Sample content: this agreement and both companies are fictional. It was written as demo "
            "material for domainchat and is not legal advice or a template for a real contract."
        ),
    ],
    pages=[
        Page(
            "Parties",
            [
                Para("This Agreement is dated 2 March 2026 and is made between:"),
                Item(
                    "(1) Lumentra Systems Ltd, a company registered in England under company number "
                    "10482736, whose registered office is at 14 Canal Wharf, Leeds LS11 5PQ (\"Provider\"); and"
                ),
                Item(
                    "(2) Kestrel Freight Services Ltd, a company registered in England under company number "
                    "08813590, whose registered office is at Unit 7, Harbour Park, Southampton SO15 1HJ "
                    "(\"Customer\")."
                ),
                Sub("Background"),
                Item(
                    "(A) Provider has developed RouteLedger, a cloud platform for fleet scheduling, route "
                    "costing and proof of delivery, which it makes available as a subscription service."
                ),
                Item(
                    "(B) Customer wishes to use RouteLedger in its transport business, and Provider has "
                    "agreed to provide it on the terms of this Agreement."
                ),
                Sub("1. Definitions and interpretation"),
                Clause("1.1", "In this Agreement the following definitions apply:"),
                Item(
                    "\"Affiliate\" means any entity that controls, is controlled by, or is under common "
                    "control with a party, where control means ownership of more than 50% of the voting shares."
                ),
                Item(
                    "\"Authorised Users\" means the employees and contractors of Customer whom Customer "
                    "authorises to use the Services, up to the number set out in clause 2.2."
                ),
                Item(
                    "\"Business Day\" means a day other than a Saturday, a Sunday or a public holiday in England."
                ),
                Item(
                    "\"Contract Year\" means each period of twelve months beginning on the date of this "
                    "Agreement or on an anniversary of it."
                ),
                Item(
                    "\"Customer Data\" means all data entered into the Services by Customer or its "
                    "Authorised Users, and all data generated by the Services from that data."
                ),
                Item(
                    "\"Documentation\" means the user guides and help pages published by Provider at "
                    "help.routeledger.example, as updated from time to time."
                ),
                Item(
                    "\"Fees\" means the fees payable under clause 4. \"Services\" means the RouteLedger "
                    "web application, driver mobile app and API described in the Documentation."
                ),
                Clause(
                    "1.2",
                    "Clause headings do not affect interpretation. Words in the singular include the "
                    "plural, and \"including\" means including without limitation.",
                ),
            ],
            [
                QA("What share of the voting shares defines control in the definition of Affiliate?", "more than 50%"),
                QA("Where does Provider publish the Documentation?", "help.routeledger.example"),
            ],
        ),
        Page(
            "2. Grant of licence",
            [
                Clause(
                    "2.1",
                    "Subject to Customer paying the Fees, Provider grants Customer a non-exclusive, "
                    "non-transferable licence, without the right to sub-license, to permit the Authorised "
                    "Users to use the Services during the term of this Agreement solely for Customer's "
                    "internal business operations.",
                ),
                Clause(
                    "2.2",
                    "The number of Authorised Users is limited to 250. Customer may buy additional "
                    "Authorised User subscriptions in blocks of 25 at the price set out in clause 4.3.",
                ),
                Clause(
                    "2.3",
                    "A user account may not be shared by more than one individual. Customer may reassign "
                    "an account to a new individual when the previous user no longer needs access.",
                ),
                Clause("2.4", "Customer shall not, and shall ensure that its Authorised Users do not:"),
                Item("(a) copy, modify or create derivative works of the Services or the Documentation;"),
                Item("(b) reverse engineer or decompile the Services, except as permitted by law;"),
                Item("(c) use the Services to build a product or service that competes with them; or"),
                Item("(d) rent, lease or make the Services available to any third party other than an Affiliate."),
                Sub("3. Service levels and support"),
                Clause(
                    "3.1",
                    "Provider shall make the Services available 99.5% of the time in each calendar month, "
                    "excluding planned maintenance. Planned maintenance takes place on Sundays between "
                    "01:00 and 05:00 UK time and is announced at least 5 Business Days in advance.",
                ),
                Clause(
                    "3.2",
                    "If availability falls below the level in clause 3.1 in any month, Customer shall "
                    "receive a service credit of 5% of the monthly share of the annual subscription fee "
                    "for each full half percentage point of shortfall, up to a maximum of 25% of that "
                    "monthly share. Service credits are Customer's sole remedy for unavailability.",
                ),
                Clause(
                    "3.3",
                    "Support is available from 08:00 to 18:00 UK time on Business Days by e-mail, through "
                    "the in-app help desk and by telephone.",
                ),
                Clause(
                    "3.4",
                    "Provider shall respond to a Priority 1 request (Services unavailable) within 1 hour, "
                    "at any time of day; to a Priority 2 request (a major function impaired) within 4 "
                    "support hours; and to any other request within 2 Business Days.",
                ),
            ],
            [
                QA("What is the maximum number of Authorised Users under clause 2.2?", "250"),
                QA("What monthly availability does Provider commit to for the Services?", "99.5%"),
            ],
        ),
        Page(
            "4. Fees and payment",
            [
                Clause(
                    "4.1",
                    "Customer shall pay an annual subscription fee of GBP 48,000 (forty-eight thousand "
                    "pounds) for the number of Authorised Users set out in clause 2.2.",
                ),
                Clause(
                    "4.2",
                    "Customer shall pay a one-off implementation fee of GBP 6,500, which covers data "
                    "migration, configuration of the Services and two days of training for up to 12 "
                    "administrators.",
                ),
                Clause(
                    "4.3",
                    "Additional Authorised User subscriptions cost GBP 16 per user per month, charged pro "
                    "rata for the remainder of the Contract Year in which they are added.",
                ),
                Clause(
                    "4.4",
                    "Provider shall invoice the annual subscription fee annually in advance, the first "
                    "invoice being issued on the date of this Agreement together with the invoice for "
                    "the implementation fee.",
                ),
                Clause(
                    "4.5",
                    "Customer shall pay each undisputed invoice within 30 days of the date of the invoice, "
                    "by bank transfer to the account shown on the invoice.",
                ),
                Clause(
                    "4.6",
                    "If Customer fails to pay any amount by its due date, Provider may charge interest on "
                    "the overdue amount at 4% per year above the Bank of England base rate, accruing daily "
                    "from the due date until the date of payment.",
                ),
                Clause(
                    "4.7",
                    "If any amount remains unpaid 14 days after Provider has given Customer written notice "
                    "of non-payment, Provider may suspend access to the Services until the amount is paid.",
                ),
                Clause(
                    "4.8",
                    "Provider may increase the Fees with effect from each anniversary of the date of this "
                    "Agreement by no more than 3% per Contract Year, by giving Customer at least two "
                    "months' written notice.",
                ),
                Clause(
                    "4.9",
                    "If Customer disputes an invoice in good faith, it shall notify Provider within 10 "
                    "Business Days of receiving it and pay the undisputed part on time.",
                ),
                Clause(
                    "4.10",
                    "All amounts in this Agreement are exclusive of value added tax, which Customer shall "
                    "pay at the applicable rate in addition to the Fees.",
                ),
            ],
            [
                QA("What is the annual subscription fee?", "GBP 48,000"),
                QA("Within what period must Customer pay an undisputed invoice?", "within 30 days of the date of the invoice"),
            ],
        ),
        Page(
            "5. Term and termination",
            [
                Clause(
                    "5.1",
                    "This Agreement starts on its date and continues for an initial term of 36 months "
                    "(the \"Initial Term\").",
                ),
                Clause(
                    "5.2",
                    "At the end of the Initial Term, this Agreement renews automatically for successive "
                    "periods of twelve months (each a \"Renewal Period\"), unless either party gives "
                    "written notice of non-renewal at least 90 days before the end of the Initial Term "
                    "or of the current Renewal Period.",
                ),
                Clause("5.3", "Either party may terminate this Agreement with immediate effect by written notice if the other party:"),
                Item(
                    "(a) commits a material breach which cannot be remedied, or which is not remedied within "
                    "21 days after receiving written notice describing the breach;"
                ),
                Item("(b) becomes insolvent, enters administration or makes an arrangement with its creditors; or"),
                Item("(c) ceases, or threatens to cease, to carry on business."),
                Clause(
                    "5.4",
                    "Provider may terminate this Agreement by written notice if any Fees remain unpaid "
                    "60 days after their due date.",
                ),
                Clause(
                    "5.5",
                    "Customer may terminate this Agreement for convenience at any time after the end of "
                    "the eighteenth month of the Initial Term by giving six months' written notice and "
                    "paying an early termination fee equal to half of the subscription fees that would "
                    "have been payable for the rest of the Initial Term.",
                ),
                Clause("5.6", "On termination or expiry of this Agreement:"),
                Item("(a) all licences granted under this Agreement end, and Customer shall stop using the Services;"),
                Item(
                    "(b) Provider shall keep Customer Data available for export in CSV and JSON formats "
                    "for 45 days after termination;"
                ),
                Item(
                    "(c) Provider shall then delete Customer Data within 120 days after termination, unless "
                    "the law requires Provider to keep it; and"
                ),
                Item("(d) rights and remedies that have accrued before termination are not affected."),
                Clause(
                    "5.7",
                    "Clauses 6 (Confidentiality), 7 (Data protection), 10 (Limitation of liability) and 13 "
                    "(Governing law and jurisdiction) survive termination or expiry.",
                ),
            ],
            [
                QA("How long is the Initial Term of the agreement?", "36 months"),
                QA("How much notice of non-renewal must a party give before the end of the term?", "at least 90 days"),
                QA("For how long after termination is Customer Data available for export?", "45 days"),
            ],
        ),
        Page(
            "6. Confidentiality",
            [
                Clause(
                    "6.1",
                    "Each party shall keep the other party's confidential information secret and use it "
                    "only to perform its obligations or exercise its rights under this Agreement.",
                ),
                Clause(
                    "6.2",
                    "A party may disclose confidential information to its employees, officers and "
                    "professional advisers who need to know it and are bound by equivalent duties, and "
                    "as required by law, a court or a regulator.",
                ),
                Clause(
                    "6.3",
                    "Clause 6.1 does not apply to information that is or becomes public other than through "
                    "a breach of this Agreement, that the receiving party already knew, or that it "
                    "developed independently.",
                ),
                Clause(
                    "6.4",
                    "The obligations in this clause 6 continue for 5 years after termination or expiry of "
                    "this Agreement, and indefinitely for trade secrets.",
                ),
                Sub("7. Data protection"),
                Clause(
                    "7.1",
                    "For the purposes of the UK GDPR and the Data Protection Act 2018, Customer is the "
                    "controller and Provider is the processor of the personal data contained in Customer Data.",
                ),
                Clause(
                    "7.2",
                    "Provider shall process personal data only on Customer's documented instructions, as "
                    "set out in Schedule 2 (Data processing details).",
                ),
                Clause(
                    "7.3",
                    "Provider shall host Customer Data in data centres located in the United Kingdom and "
                    "shall not transfer it elsewhere without Customer's prior written consent.",
                ),
                Clause(
                    "7.4",
                    "Provider shall notify Customer of any personal data breach without undue delay and in "
                    "any event within 48 hours of becoming aware of it.",
                ),
                Clause(
                    "7.5",
                    "Provider shall give Customer at least 20 Business Days' notice before appointing a new "
                    "sub-processor. Customer may object on reasonable data protection grounds.",
                ),
                Clause(
                    "7.6",
                    "Customer may audit Provider's compliance with this clause 7 once per Contract Year, "
                    "on at least 15 Business Days' notice. Provider maintains ISO/IEC 27001 certification.",
                ),
            ],
            [
                QA("Within how many hours must Provider notify Customer of a personal data breach?", "within 48 hours"),
                QA("For how long do the confidentiality obligations continue after termination?", "5 years"),
            ],
        ),
        Page(
            "8. Warranties",
            [
                Clause(
                    "8.1",
                    "Provider warrants that the Services will perform materially in accordance with the "
                    "Documentation.",
                ),
                Clause(
                    "8.2",
                    "If the Services do not conform to clause 8.1, Provider shall at its own cost correct the "
                    "non-conformity within 30 Business Days of being notified. If it cannot, Customer may "
                    "terminate the affected Services and receive a refund of the Fees prepaid for the rest "
                    "of the Contract Year. This is Customer's sole remedy for breach of clause 8.1.",
                ),
                Clause(
                    "8.3",
                    "Provider does not warrant that the Services will be uninterrupted or error-free. The "
                    "Services do not relieve Customer of its legal duties, such as drivers' hours rules.",
                ),
                Sub("9. Intellectual property"),
                Clause(
                    "9.1",
                    "Provider and its licensors own all intellectual property rights in the Services and "
                    "the Documentation. Customer owns all rights in Customer Data.",
                ),
                Clause(
                    "9.2",
                    "Provider shall defend Customer against any claim that the Services infringe the "
                    "intellectual property rights of a third party in the United Kingdom, and shall pay "
                    "any damages finally awarded, provided that Customer notifies Provider promptly and "
                    "lets Provider control the defence.",
                ),
                Sub("10. Limitation of liability"),
                Clause(
                    "10.1",
                    "Nothing in this Agreement limits liability for death or personal injury caused by "
                    "negligence, for fraud, or for any other liability that cannot be limited by law.",
                ),
                Clause(
                    "10.2",
                    "Neither party is liable for loss of profits, loss of business, loss of goodwill, or any "
                    "indirect or consequential loss.",
                ),
                Clause(
                    "10.3",
                    "Each party's total liability in each Contract Year shall not exceed 125% of the Fees "
                    "paid and payable in the twelve months before the event giving rise to the claim.",
                ),
                Clause(
                    "10.4",
                    "The limit in clause 10.3 does not apply to Customer's obligation to pay the Fees. "
                    "Provider's liability under clause 9.2 is limited to GBP 2,000,000 in total.",
                ),
            ],
            [
                QA("What is each party's total liability in a Contract Year limited to?", "125% of the Fees"),
                QA("Within how many Business Days must Provider correct a non-conformity with the Documentation?", "30 Business Days"),
            ],
        ),
        Page(
            "11. Force majeure",
            [
                Clause(
                    "11.1",
                    "Neither party is in breach of this Agreement for any delay or failure caused by events "
                    "beyond its reasonable control, such as fire, flood, war, or the failure of a public "
                    "power or telecommunications network. This does not excuse late payment.",
                ),
                Clause(
                    "11.2",
                    "If such an event prevents a party from performing for more than 8 consecutive weeks, "
                    "the other party may terminate this Agreement by giving 10 Business Days' written notice.",
                ),
                Sub("12. General"),
                Clause(
                    "12.1",
                    "Neither party may assign this Agreement without the other's prior written consent, "
                    "except that Provider may assign it to a buyer of all or most of its business.",
                ),
                Clause(
                    "12.2",
                    "Notices must be in writing and sent by e-mail: to Provider at legal@lumentra.example and "
                    "to Customer at contracts@kestrelfreight.example.",
                ),
                Clause(
                    "12.3",
                    "This Agreement is the entire agreement between the parties about its subject matter. "
                    "A variation is valid only if it is in writing and signed by both parties.",
                ),
                Clause(
                    "12.4",
                    "No one other than the parties has any right to enforce a term of this Agreement under "
                    "the Contracts (Rights of Third Parties) Act 1999.",
                ),
                Sub("13. Governing law and jurisdiction"),
                Clause(
                    "13.1",
                    "This Agreement and any dispute arising out of it are governed by the law of England and Wales.",
                ),
                Clause(
                    "13.2",
                    "Before starting court proceedings, the parties shall refer any dispute to their chief "
                    "executives, who shall meet within 15 Business Days to try to settle it. The courts of "
                    "England and Wales have exclusive jurisdiction.",
                ),
                Sub("Signatures"),
                Para("Signed for and on behalf of Lumentra Systems Ltd by Priya Raman, Chief Executive Officer."),
                Para("Signed for and on behalf of Kestrel Freight Services Ltd by Tomasz Wojcik, Operations Director."),
            ],
            [
                QA("Which law governs the agreement?", "the law of England and Wales"),
                QA(
                    "After how long may a party terminate if a force majeure event prevents the other from performing?",
                    "more than 8 consecutive weeks",
                ),
            ],
        ),
    ],
)


# ---------------------------------------------------------------- document 3: medical

GUIDE = SampleDoc(
    filename="diabetes-patient-guide.pdf",
    title="Living well with type 2 diabetes",
    subtitle="A guide for patients of Elmbrook Health Centre - leaflet DC-07, version 2.1",
    author="Elmbrook Health Centre Diabetes Care Team (fictional)",
    footer="Living well with type 2 diabetes - sample content, not medical advice",
    intro=[
        Note(
            "Sample content, not medical advice. Elmbrook Health Centre is fictional and this guide was "
            "written as demo material for domainchat. Always follow the advice of your own doctor, "
            "nurse or pharmacist."
        ),
    ],
    pages=[
        Page(
            "1. What is type 2 diabetes?",
            [
                Para(
                    "Type 2 diabetes is a long-term condition in which the level of glucose (sugar) in "
                    "your blood is too high. Glucose comes from the food you eat and from your liver. "
                    "Insulin, a hormone made by the pancreas, moves glucose out of the blood and into the "
                    "cells that use it for energy. In type 2 diabetes the body does not respond to insulin "
                    "properly, and over time the pancreas cannot make enough of it."
                ),
                Para(
                    "Years of high glucose levels damage blood vessels and nerves. This raises the risk of "
                    "heart attack, stroke, and problems with the eyes, kidneys and feet. The good news is "
                    "that keeping your glucose, blood pressure and cholesterol close to your targets "
                    "greatly lowers these risks."
                ),
                Sub("Common symptoms"),
                Bullets(
                    (
                        "passing urine more often than usual, especially at night;",
                        "feeling very thirsty and tired;",
                        "cuts and wounds that are slow to heal;",
                        "losing weight without trying.",
                    )
                ),
                Para("Many people have no symptoms at all, which is why diabetes is often found by a routine blood test."),
                Sub("What you can do"),
                Bullets(
                    (
                        "Aim for at least 150 minutes of moderate activity a week, such as brisk walking, "
                        "cycling or swimming, spread over most days.",
                        "Eat regular meals based on vegetables, pulses, whole grains and lean protein, and "
                        "cut down on sugary drinks, sweets and large portions of white bread, rice and pasta.",
                        "If you are overweight, losing even a small amount of weight improves your glucose levels.",
                        "Stop smoking: ask reception about our stop-smoking clinic.",
                    )
                ),
                Para(
                    "Everyone newly diagnosed at Elmbrook is invited to our free group education course, "
                    "Taking Charge, which runs for six weeks on Wednesday evenings. Partners and carers "
                    "are welcome to come too."
                ),
            ],
            [
                QA("How many minutes of moderate activity a week should you aim for?", "150 minutes"),
                QA("What is the name of the clinic's group education course for newly diagnosed patients?", "Taking Charge"),
            ],
        ),
        Page(
            "2. Checking your blood glucose",
            [
                Para(
                    "Not everyone with type 2 diabetes needs to check their glucose at home. It is usually "
                    "advised if you take insulin or a medicine that can cause hypoglycaemia, if you are "
                    "pregnant, or while your treatment is being changed. Your nurse will tell you whether "
                    "you need a meter and how often to test."
                ),
                Sub("Your glucose targets"),
                Table(
                    ("When you test", "Target for most adults with type 2 diabetes"),
                    (
                        ("On waking and before meals", "4 to 7 mmol/L"),
                        ("2 hours after the start of a meal", "below 8.5 mmol/L"),
                        ("Before driving (if you take insulin or gliclazide)", "above 5 mmol/L"),
                    ),
                    (0.55, 0.45),
                ),
                Para(
                    "Your own targets may be different: write them in your record book. Some meters show "
                    "results in mg/dL instead of mmol/L. To convert a result in mmol/L to mg/dL, multiply "
                    "by 18; for example, 7 mmol/L is about 126 mg/dL."
                ),
                Sub("How to test"),
                Steps(
                    (
                        "Wash your hands with warm water and soap and dry them. Do not use wet wipes: "
                        "traces of fruit or sugar on the skin give falsely high readings.",
                        "Prick the side of a fingertip rather than the pad, which is more painful, and "
                        "use a different finger each time.",
                        "Use a new lancet for every test and put used lancets in the sharps bin we give you.",
                        "Write down the result with the date, the time and what you had eaten, or let your "
                        "meter app record it.",
                    )
                ),
                Para(
                    "Bring your meter or your record book to every appointment. A pattern of readings over "
                    "a week tells us far more than a single number. Meters need a check with control solution when "
                    "you open a new pot of strips, or if a result does not match how you feel."
                ),
            ],
            [
                QA("What is the target blood glucose range on waking and before meals?", "4 to 7 mmol/L"),
                QA("How do you convert a glucose result in mmol/L to mg/dL?", "multiply by 18"),
            ],
        ),
        Page(
            "3. HbA1c and your annual review",
            [
                Para(
                    "HbA1c is a blood test that shows how much glucose has attached to your red blood "
                    "cells. Because red blood cells live for about three months, it reflects your average "
                    "glucose level over the previous 2 to 3 months. You do not need to fast before the test."
                ),
                Para(
                    "We check your HbA1c every 3 months after diagnosis or after a change in treatment, and "
                    "every 6 months once it is stable. Your target is agreed with you, but for most people "
                    "managed by lifestyle or metformin alone it is 48 mmol/mol. If you take a medicine that "
                    "can cause hypoglycaemia, a target of 53 mmol/mol is usually safer."
                ),
                Table(
                    ("HbA1c (mmol/mol)", "HbA1c (%)", "What it means"),
                    (
                        ("42", "6.0", "upper limit of the non-diabetic range"),
                        ("53", "7.0", "common target with medicines that can cause hypos"),
                        ("64", "8.0", "above target: treatment review advised"),
                        ("75", "9.0", "well above target: we will contact you"),
                    ),
                    (0.25, 0.2, 0.55),
                ),
                Sub("Your annual review"),
                Para("Once a year we book a longer review with the practice nurse. It includes:"),
                Bullets(
                    (
                        "weight, waist measurement and blood pressure; the usual blood pressure target is "
                        "below 140/80 mmHg;",
                        "blood tests for HbA1c, cholesterol and kidney function, and a urine test for protein;",
                        "a check of the feet for feeling, pulses and skin problems;",
                        "a review of your medicines and of your personal goals.",
                    )
                ),
                Para(
                    "Eye screening is arranged separately: the Diabetic Eye Screening Service will invite "
                    "you for photographs of the back of your eyes once a year. The drops used can blur your "
                    "vision for 4 to 6 hours, so do not drive to the appointment."
                ),
            ],
            [
                QA(
                    "What is the HbA1c target for most people managed by lifestyle or metformin alone?",
                    "48 mmol/mol",
                ),
                QA("What is the usual blood pressure target checked at the annual review?", "below 140/80 mmHg"),
            ],
        ),
        Page(
            "4. Your medicines",
            [
                Para(
                    "Many people need medicine as well as changes to diet and activity. Type 2 diabetes "
                    "tends to progress over the years, so needing more medicine is not a failure on your "
                    "part. Always ask your doctor or pharmacist before you start, stop or change the dose "
                    "of any medicine; this section explains the basics but does not replace their advice."
                ),
                Sub("Metformin"),
                Para(
                    "Metformin is usually the first medicine offered. It reduces the amount of glucose your "
                    "liver releases and helps your body use its own insulin. On its own it does not usually "
                    "cause hypoglycaemia. The usual starting dose is 500 mg once a day, taken with or just "
                    "after food; your doctor will then increase the dose slowly over several weeks."
                ),
                Para(
                    "The most common side effects are stomach upset, nausea and diarrhoea. They usually "
                    "settle within a few weeks; if they do not, ask your doctor about modified-release "
                    "tablets. Over years, metformin can lower vitamin B12 levels, so we check them if you "
                    "develop tingling in your hands or feet. Tell us before an operation or an X-ray with "
                    "contrast dye, as metformin may need to be paused."
                ),
                Sub("Other medicines you may be offered"),
                Bullets(
                    (
                        "Gliclazide (a sulfonylurea) makes the pancreas release more insulin. It can cause "
                        "hypos, so learn the signs described on page 5.",
                        "SGLT2 inhibitors such as dapagliflozin or empagliflozin make the kidneys remove "
                        "glucose in the urine. Keep the genital area clean to avoid thrush.",
                        "DPP-4 inhibitors such as sitagliptin, and GLP-1 receptor agonists such as weekly "
                        "semaglutide injections, help the body release insulin after meals.",
                        "Insulin may be needed if other treatments no longer keep your glucose on target.",
                    )
                ),
                Sub("Practical tips"),
                Para(
                    "Keep an up-to-date list of all your medicines, including ones you buy yourself, and "
                    "bring it to every appointment. Order repeat prescriptions through the online portal or "
                    "the box at reception at least 7 days before you run out."
                ),
            ],
            [
                QA("What is the usual starting dose of metformin?", "500 mg once a day"),
                QA("Which vitamin can metformin lower over years of use?", "vitamin B12"),
            ],
        ),
        Page(
            "5. Hypoglycaemia (a hypo)",
            [
                Para(
                    "A hypo is when your blood glucose falls below 4 mmol/L. A simple way to remember this "
                    "is: four is the floor. Hypos mainly happen to people who take insulin or a sulfonylurea "
                    "such as gliclazide. Common causes are a delayed or missed meal, more physical activity "
                    "than usual, drinking alcohol, or taking too much medicine."
                ),
                Para(
                    "Signs of a hypo include shaking, sweating, hunger, a fast heartbeat, tingling lips, "
                    "feeling anxious or irritable, and difficulty concentrating. Some people notice few "
                    "warning signs, especially after many years of diabetes."
                ),
                Sub("Treat it with the rule of 15"),
                Steps(
                    (
                        "If you can, check your glucose to confirm the hypo.",
                        "Eat or drink 15 g of fast-acting carbohydrate, for example 150 ml of ordinary fruit "
                        "juice or non-diet cola, 4 to 5 glucose tablets, or 5 jelly sweets.",
                        "Wait 15 minutes, then check your glucose again.",
                        "If it is still too low, repeat step 2. Do not repeat this more than three times: "
                        "see page 8 for when to get urgent help.",
                        "Once your glucose is back in range, eat a longer-acting carbohydrate snack, such "
                        "as a slice of toast or a sandwich, or your next meal if it is due.",
                    )
                ),
                Sub("If someone is unconscious"),
                Para(
                    "Do not give them anything to eat or drink, because they could choke. Put them in the "
                    "recovery position and call 999. If they carry a glucagon injection and you have been "
                    "shown how to use it, give it."
                ),
                Sub("Hypos and driving"),
                Para(
                    "If you feel a hypo coming on while driving, stop as soon as it is safe, take the key out "
                    "of the ignition and move to the passenger seat. Treat the hypo and wait 45 minutes after "
                    "your glucose has returned to normal before you drive again."
                ),
            ],
            [
                QA("How much fast-acting carbohydrate should you take to treat a hypo under the rule of 15?", "15 g"),
                QA(
                    "How long should you wait after your glucose has returned to normal before driving again after a hypo?",
                    "45 minutes",
                ),
            ],
        ),
        Page(
            "6. Looking after your feet",
            [
                Para(
                    "Diabetes can damage the nerves in your feet, so you may not feel a cut, a blister or a "
                    "stone in your shoe. It can also reduce the blood supply, so injuries heal slowly. A "
                    "small wound can turn into an ulcer within days, and foot ulcers are a leading cause of "
                    "hospital admission for people with diabetes. A few minutes of care each day prevents "
                    "most problems."
                ),
                Sub("Your daily routine"),
                Bullets(
                    (
                        "Check both feet every day, including the soles and between the toes. Use a mirror "
                        "or ask someone to help if you cannot see them well.",
                        "Wash your feet daily in warm water. Test the temperature with your elbow, not your "
                        "foot, and dry carefully between the toes.",
                        "Moisturise dry skin, but not between the toes.",
                        "Cut toenails straight across and file sharp edges. If you cannot see or reach your "
                        "nails, ask a podiatrist.",
                        "Never walk barefoot, even at home, and feel inside your shoes for stones before "
                        "putting them on.",
                        "Wear well-fitting shoes and clean socks without thick seams, and change your socks every day.",
                        "Do not use corn plasters or blades on corns or hard skin: see a podiatrist instead.",
                        "Keep your feet away from hot-water bottles, heaters and open fires.",
                    )
                ),
                Sub("Know your risk"),
                Para(
                    "After your foot check you will be told whether your feet are at low, moderate or high "
                    "risk. If your risk is moderate or high, we will refer you to our podiatry service for "
                    "regular care."
                ),
                Sub("Act quickly"),
                Para(
                    "Contact the clinic on the same day if you notice a cut, blister or break in the skin "
                    "that has not started to heal after 3 days, any change in colour, swelling or warmth of "
                    "the foot, new pain or throbbing, or discharge from a wound."
                ),
            ],
            [
                QA("How should toenails be cut?", "straight across"),
            ],
        ),
        Page(
            "7. Sick-day rules",
            [
                Para(
                    "Illnesses such as colds, flu, infections, vomiting or diarrhoea usually make your "
                    "blood glucose rise, even if you are eating less than usual. Losing fluid can also harm "
                    "your kidneys. These rules help you stay safe until you recover."
                ),
                Sub("While you are ill"),
                Bullets(
                    (
                        "Keep taking your diabetes medicines unless the advice below or your doctor tells you "
                        "otherwise. If you use insulin, never stop it: you may need more, not less.",
                        "Drink plenty of sugar-free fluids, at least 3 litres over 24 hours. If you feel sick, "
                        "take small sips every few minutes.",
                        "If you cannot eat normal meals, replace them with easy carbohydrates such as milk, "
                        "soup, yoghurt or ice cream.",
                        "If you check your glucose at home, test at least every 4 hours, including during the night.",
                    )
                ),
                Sub("Medicines to pause if you become dehydrated"),
                Para(
                    "If you are vomiting, have diarrhoea, or have a fever with sweats and cannot keep fluids "
                    "down, some medicines can build up or harm your kidneys. They include metformin, SGLT2 "
                    "inhibitors, some blood pressure medicines (ACE inhibitors and ARBs), water tablets "
                    "(diuretics) and anti-inflammatory painkillers such as ibuprofen."
                ),
                Para(
                    "Your doctor will mark on your personal sick-day card which of your medicines to pause. "
                    "Restart them once you have been eating and drinking normally for 24 to 48 hours. Never "
                    "stop a medicine that is not on your card without advice."
                ),
                Sub("Ketones"),
                Para(
                    "If you take an SGLT2 inhibitor and feel unwell with stomach pain, vomiting or fast "
                    "breathing, you may have diabetic ketoacidosis, even if your glucose is not very high. "
                    "This needs urgent treatment: see page 8."
                ),
                Sub("Your sick-day kit"),
                Para(
                    "Keep these together at home: your meter and test strips, ketone strips if prescribed, "
                    "glucose tablets, sugar-free drinks, a thermometer and your sick-day card."
                ),
            ],
            [
                QA("How much sugar-free fluid should you drink when you are ill?", "at least 3 litres over 24 hours"),
                QA(
                    "When can you restart medicines you paused during an illness?",
                    "once you have been eating and drinking normally for 24 to 48 hours",
                ),
            ],
        ),
        Page(
            "8. When to get help and how to contact us",
            [
                Sub("Call 999 or go to A&E immediately if"),
                Bullets(
                    (
                        "someone having a hypo is unconscious, has a seizure or is too drowsy to swallow safely;",
                        "your glucose is still under four after three rounds of hypo treatment;",
                        "you have chest pain, sudden breathlessness, or signs of a stroke such as a drooping face or weak arm;",
                        "you have fast breathing, stomach pain and vomiting, or breath that smells of pear drops.",
                    )
                ),
                Sub("Call the clinic the same day (or 111 when we are closed) if"),
                Bullets(
                    (
                        "your glucose is above 15 mmol/L on two readings in a row;",
                        "you cannot keep fluids down for more than 6 hours;",
                        "you have had more than two hypos in a week;",
                        "you notice any of the foot problems described on page 6.",
                    )
                ),
                Sub("Contact details"),
                Table(
                    ("Service", "Details"),
                    (
                        ("Address", "Elmbrook Health Centre, 42 Orchard Lane, Elmbrook EB4 7QT"),
                        ("Reception", "01632 960 418"),
                        ("Opening hours", "Monday to Friday 8:00 to 18:30; Saturday 9:00 to 12:00 (booked appointments only); closed on Sundays and bank holidays"),
                        ("Diabetes nurse advice line", "01632 960 427, Tuesday and Thursday 14:00 to 16:00"),
                        ("Online", "www.elmbrook-health.example"),
                        ("Out of hours", "call 111, or 999 in an emergency"),
                    ),
                    (0.3, 0.7),
                ),
                Para(
                    "When you phone, have your NHS number, your list of medicines and your recent glucose "
                    "readings ready. Write down your questions before an appointment so that nothing is forgotten. "
                    "If you need an interpreter or a longer appointment, tell reception when you book and we will arrange it."
                ),
            ],
            [
                QA("What are the clinic's Saturday opening hours?", "9:00 to 12:00"),
                QA("What is the telephone number of the diabetes nurse advice line?", "01632 960 427"),
            ],
        ),
    ],
)

DOCUMENTS = [MANUAL, LICENCE, GUIDE]


# -------------------------------------------------------- the update pair (manual v2)

UPDATE_DIR = "update"  # sample_docs/update/: the new version under the same file name, and its questions
UPDATE_QUESTIONS = "changed-facts.questions.jsonl"


@dataclass(frozen=True)
class Change:
    """One fact that revision 4 of the manual changes: text edits on one page and the question about it."""

    page: int  # 1-based
    edits: tuple[tuple[str, str], ...]  # (old text, new text), each old text found exactly once on the page
    question: str
    old_answer: str
    answer: str


MANUAL_CHANGES = [
    Change(1, (("never place more than 15 kg on it", "never place more than 12 kg on it"),),
           "What is the maximum weight that may be placed on the open door of the dishwasher?", "15 kg", "12 kg"),
    Change(4, (('"2 h 45 min"', '"2 h 25 min"'),), "How long does the Intensive 70° programme take?", "2 h 45 min", "2 h 25 min"),
    Change(4, (('"9.9 l"', '"8.4 l"'),), "How much water does the Eco 50° programme use?", "9.9 l", "8.4 l"),
    Change(6, (("clean the filters once a week.", "clean the filters every two weeks; the new self-rinsing micro filter holds more residue."),),
           "How often should the filters be checked and cleaned?", "once a week", "every two weeks"),
    Change(8, (("for 2 years from the date of purchase", "for 4 years from the date of purchase"),
               ("is extended to 5 years; labour is charged after the second year", "is extended to 7 years; labour is charged after the fourth year")),
           "How long is the standard warranty on the DW-450?", "2 years", "4 years"),
    Change(8, (('"44 dB(A)"', '"41 dB(A)"'),), "What is the airborne noise emission of the DW-450?", "44 dB(A)", "41 dB(A)"),
]


def _edit_block(block: Block, old: str, new: str) -> tuple[Block, int]:
    """The block with `old` replaced by `new` in its text, and how many times it was replaced."""
    if isinstance(block, (Para, Sub, Note)):
        return type(block)(block.text.replace(old, new)), block.text.count(old)
    if isinstance(block, (Bullets, Steps)):
        return type(block)(tuple(t.replace(old, new) for t in block.items)), sum(t.count(old) for t in block.items)
    if isinstance(block, Table):
        # a quoted edit ('"9.9 l"') targets a whole table cell
        cell_old, cell_new = (old[1:-1], new[1:-1]) if old.startswith('"') else (old, new)
        rows = tuple(tuple(cell_new if c == cell_old else c for c in row) for row in block.rows)
        return Table(block.header, rows, block.widths), sum(row.count(cell_old) for row in block.rows)
    return block, 0


def manual_v2() -> SampleDoc:
    """Revision 4 of the manual: the same document with the figures of MANUAL_CHANGES changed."""
    pages = []
    for number, page in enumerate(MANUAL.pages, start=1):
        blocks = list(page.blocks)
        questions = list(page.questions)
        for change in (c for c in MANUAL_CHANGES if c.page == number):
            for old, new in change.edits:
                edited = [_edit_block(b, old, new) for b in blocks]
                hits = sum(n for _, n in edited)
                if hits != 1:
                    raise ValueError(f"page {number}: {old!r} found {hits} times, expected once")
                blocks = [b for b, _ in edited]
            questions = [QA(q.question, change.answer) if q.question == change.question else q for q in questions]
        pages.append(Page(page.heading, blocks, questions))
    return SampleDoc(MANUAL.filename, MANUAL.title, MANUAL.subtitle.replace("revision 3", "revision 4"), MANUAL.author,
                     MANUAL.footer, MANUAL.intro, pages)


def write_update_questions(path: Path) -> int:
    """One JSON object per changed fact: the current (v2) `answer` and the `old_answer` of v1."""
    lines = [
        json.dumps({"question": c.question, "answer": c.answer, "old_answer": c.old_answer, "page": c.page, "source": MANUAL.filename},
                   ensure_ascii=False)
        for c in MANUAL_CHANGES
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


# ------------------------------------------------------------------------ PDF output


def _markup(text: str) -> str:
    """Escape text for a reportlab Paragraph, keeping our <b> tags."""
    return escape(text).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")


def build_pdf(doc: SampleDoc, path: Path) -> None:
    """Render a SampleDoc to a PDF with one page per Page entry."""
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import BaseDocTemplate, Frame, KeepTogether, PageBreak, PageTemplate, Paragraph, Spacer
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    rl_config.invariant = 1  # fixed dates and document id: identical bytes on every run

    accent = colors.HexColor("#1F4E79")
    base = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13.5, alignment=TA_LEFT, spaceAfter=5)
    styles = {
        "title": ParagraphStyle("title", parent=base, fontName="Helvetica-Bold", fontSize=20, leading=24, textColor=accent, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, textColor=colors.HexColor("#555555"), spaceAfter=8),
        "h1": ParagraphStyle("h1", parent=base, fontName="Helvetica-Bold", fontSize=15, leading=19, textColor=accent, spaceBefore=2, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=base, fontName="Helvetica-Bold", fontSize=11, leading=14, spaceBefore=6, spaceAfter=3),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=11.5, spaceAfter=0),
        "cellhead": ParagraphStyle("cellhead", parent=base, fontName="Helvetica-Bold", fontSize=9, leading=11.5, spaceAfter=0, textColor=colors.white),
        "note": ParagraphStyle("note", parent=base, fontSize=9, leading=12, spaceAfter=0),
    }
    width = A4[0] - 40 * mm
    item_style = ParagraphStyle("item", parent=base, leftIndent=14, firstLineIndent=-14, spaceAfter=3)
    bullet_style = ParagraphStyle("bullet", parent=base, leftIndent=14, spaceAfter=3)

    class BulletParagraph(Paragraph):
        """A paragraph with a drawn dot: a bullet glyph would reach pypdf's text as a control character."""

        def draw(self) -> None:
            super().draw()
            style = self.style
            baseline = self.height - style.fontSize  # where Paragraph puts its first line (no autoLeading)
            self.canv.setFillColor(accent)
            self.canv.circle(style.leftIndent - 9, baseline + 0.3 * style.fontSize, 1.7, stroke=0, fill=1)

    def flow(block: Block) -> list:
        if isinstance(block, Para):
            return [Paragraph(_markup(block.text), base)]
        if isinstance(block, Sub):
            return [Paragraph(_markup(block.text), styles["h2"])]
        if isinstance(block, Bullets):
            return [BulletParagraph(_markup(t), bullet_style) for t in block.items] + [Spacer(1, 3)]
        if isinstance(block, Steps):
            # The number is part of the text, so extraction yields "1. Do this" on one line.
            return [Paragraph(f"{n}.&nbsp;&nbsp;{_markup(t)}", item_style) for n, t in enumerate(block.items, 1)] + [Spacer(1, 3)]
        if isinstance(block, Table):
            data = [[Paragraph(_markup(h), styles["cellhead"]) for h in block.header]]
            data += [[Paragraph(_markup(c), styles["cell"]) for c in row] for row in block.rows]
            table = RLTable(data, colWidths=[f * width for f in block.widths], repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("BACKGROUND", (0, 0), (-1, 0), accent),
                        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#EEF3F8")]),
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9DB3C8")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("TOPPADDING", (0, 0), (-1, -1), 3),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                    ]
                )
            )
            return [table, Spacer(1, 7)]
        if isinstance(block, Note):
            box = RLTable([[Paragraph(_markup(block.text), styles["note"])]], colWidths=[width])
            box.setStyle(
                TableStyle(
                    [
                        ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#C0504D")),
                        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FBEFEF")),
                        ("TOPPADDING", (0, 0), (-1, -1), 5),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                    ]
                )
            )
            return [KeepTogether([box]), Spacer(1, 8)]
        raise TypeError(f"block type not supported in PDF: {type(block).__name__}")

    story: list = [Paragraph(_markup(doc.title), styles["title"]), Paragraph(_markup(doc.subtitle), styles["subtitle"])]
    for block in doc.intro:
        story += flow(block)
    for index, page in enumerate(doc.pages):
        if index:
            story.append(PageBreak())
        story.append(Paragraph(_markup(page.heading), styles["h1"]))
        for block in page.blocks:
            story += flow(block)

    total = len(doc.pages)

    def footer(canvas, template) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(20 * mm, 12 * mm, doc.footer)
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {template.page} of {total}")
        canvas.restoreState()

    template = BaseDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=22 * mm,
        title=doc.title,
        author=doc.author,
        subject=doc.subtitle,
        creator="domainchat sample_docs/build_samples.py",
        invariant=1,
    )
    frame = Frame(template.leftMargin, template.bottomMargin, template.width, template.height, id="body")
    # onPageEnd (not onPage) so that the footer follows the page's content in the extracted text.
    template.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=footer)])
    template.build(story)


# ----------------------------------------------------------------------- DOCX output


def _add_runs(paragraph, text: str) -> None:
    """Add text to a python-docx paragraph, honouring <b> tags."""
    parts = text.replace("</b>", "<b>").split("<b>")
    for i, part in enumerate(parts):
        if part:
            paragraph.add_run(part).bold = bool(i % 2)


def _page_number_footer(section, text: str) -> None:
    """Footer with fixed text followed by a PAGE field."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph = section.footer.paragraphs[0]
    paragraph.text = ""
    run = paragraph.add_run(text)
    run.font.size = _pt(8)
    field_el = OxmlElement("w:fldSimple")
    field_el.set(qn("w:instr"), "PAGE")
    inner = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "1"
    inner.append(t)
    field_el.append(inner)
    paragraph._p.append(field_el)


def _pt(value: float):
    from docx.shared import Pt

    return Pt(value)


def build_docx(doc: SampleDoc, path: Path) -> None:
    """Render a SampleDoc to a DOCX with an explicit page break between pages."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, RGBColor

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.0))
    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = _pt(10.5)
    normal.paragraph_format.space_after = _pt(4)
    _page_number_footer(section, doc.footer)

    props = document.core_properties
    props.title = doc.title
    props.subject = doc.subtitle
    props.author = doc.author
    props.last_modified_by = doc.author
    props.comments = "Fictional sample document generated by domainchat sample_docs/build_samples.py"
    props.keywords = "sample, fictional, domainchat"
    props.revision = 1
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)

    title = document.add_heading(doc.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub = document.add_paragraph(doc.subtitle)
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def add(block: Block) -> None:
        if isinstance(block, Para):
            _add_runs(document.add_paragraph(), block.text)
        elif isinstance(block, Sub):
            # In a contract every clause title is top-level, like the page headings.
            document.add_heading(block.text, level=1)
        elif isinstance(block, Clause):
            p = document.add_paragraph()
            p.paragraph_format.left_indent = Cm(1.0)
            p.paragraph_format.first_line_indent = Cm(-1.0)
            p.add_run(block.number).bold = True
            p.add_run("\t" + block.text)
        elif isinstance(block, Item):
            p = document.add_paragraph()
            p.paragraph_format.left_indent = Cm(1.0)
            _add_runs(p, block.text)
        elif isinstance(block, Bullets):
            for text in block.items:
                _add_runs(document.add_paragraph(style="List Bullet"), text)
        elif isinstance(block, Note):
            p = document.add_paragraph()
            run = p.add_run(block.text)
            run.italic = True
            run.font.color.rgb = RGBColor(0x9C, 0x2B, 0x27)
        else:  # tables stay out of the DOCX so that all text lives in body paragraphs
            raise TypeError(f"block type not supported in DOCX: {type(block).__name__}")

    for block in doc.intro:
        add(block)
    for index, page in enumerate(doc.pages):
        if index:
            document.add_page_break()
        document.add_heading(page.heading, level=1)
        for block in page.blocks:
            add(block)

    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_normalise_zip(buffer.getvalue()))


def _normalise_zip(data: bytes) -> bytes:
    """Re-zip with fixed timestamps and attributes so that the bytes do not depend on the clock."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# ------------------------------------------------------------------------- questions


def questions_path(doc_path: Path) -> Path:
    """``x.pdf`` -> ``x.questions.jsonl`` next to it."""
    return doc_path.with_name(doc_path.stem + ".questions.jsonl")


def write_questions(doc: SampleDoc, path: Path) -> int:
    """Write one JSON object per question; the page number is the page's position."""
    lines = []
    for number, page in enumerate(doc.pages, start=1):
        for qa in page.questions:
            record = {"question": qa.question, "answer": qa.answer, "page": number, "source": doc.filename}
            lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def build_all(out_dir: Path) -> list[Path]:
    """Build every document and its question file into out_dir; return the document paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in DOCUMENTS:
        target = out_dir / doc.filename
        if target.suffix == ".pdf":
            build_pdf(doc, target)
        else:
            build_docx(doc, target)
        count = write_questions(doc, questions_path(target))
        print(f"wrote {target.name}: {len(doc.pages)} pages, {count} questions")
        written.append(target)
    update = out_dir / UPDATE_DIR
    update.mkdir(exist_ok=True)
    build_pdf(manual_v2(), update / MANUAL.filename)
    count = write_update_questions(update / UPDATE_QUESTIONS)
    print(f"wrote {UPDATE_DIR}/{MANUAL.filename} (revision 4) and {UPDATE_DIR}/{UPDATE_QUESTIONS}: {count} changed facts")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: sample_docs/)")
    args = parser.parse_args()
    build_all(args.out)


if __name__ == "__main__":
    main()
